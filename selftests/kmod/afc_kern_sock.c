// SPDX-License-Identifier: GPL-2.0
/*
 * A test module for netns.c: kernel sockets of AF_CUSTOM
 * (sock_create_kern) in the network namespace of the task that loads it.
 *
 * On load it makes a listener on 127.0.0.1:port, connects a client to it,
 * accepts the child and closes the client at once: the client becomes an
 * orphan in FIN_WAIT_2, which lives until the namespace's fin_timeout and
 * runs a timer against the namespace's state.  The listener and the child
 * stay open until the module is unloaded.  net_refcnt reports the
 * listener's sk_net_refcnt: a kernel socket of ours must hold its
 * namespace (1), or the namespace could be dismantled under it and the
 * orphan's timer read freed state.
 */
#include <linux/in.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/nsproxy.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <linux/af_custom.h>

static int family = AF_CUSTOM_DEFAULT;
module_param(family, int, 0444);
MODULE_PARM_DESC(family, "the family number af_custom registered");
static int port = 7600;
module_param(port, int, 0444);
MODULE_PARM_DESC(port, "the listener's port on 127.0.0.1");
static int net_refcnt = -1;
module_param(net_refcnt, int, 0444);
MODULE_PARM_DESC(net_refcnt, "sk_net_refcnt of the kernel listener (read-only)");

static struct socket *listener, *child;

static int __init afc_kern_sock_init(void)
{
	struct net *net = current->nsproxy->net_ns;
	struct sockaddr_custom a = {
		.scu_family = family,
		.scu_port = htons(port),
		.scu_addr = htonl(INADDR_LOOPBACK),
	};
	struct socket *client;
	int err;

	err = sock_create_kern(net, family, SOCK_STREAM, 0, &listener);
	if (err)
		return err;
	net_refcnt = listener->sk->sk_net_refcnt;
	err = kernel_bind(listener, (struct sockaddr *)&a, sizeof(a));
	if (!err)
		err = kernel_listen(listener, 1);
	if (!err)
		err = sock_create_kern(net, family, SOCK_STREAM, 0, &client);
	if (err)
		goto out;
	err = kernel_connect(client, (struct sockaddr *)&a, sizeof(a), 0);
	if (!err)
		err = kernel_accept(listener, &child, 0);
	/* The client closes first: its FIN is acknowledged by the child,
	 * which stays open, so the client lingers as a FIN_WAIT_2 orphan. */
	sock_release(client);
	if (!err)
		return 0;
out:
	pr_err("afc_kern_sock: %d\n", err);
	sock_release(listener);
	return err;
}

static void __exit afc_kern_sock_exit(void)
{
	sock_release(child);
	sock_release(listener);
}

module_init(afc_kern_sock_init);
module_exit(afc_kern_sock_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("AF_CUSTOM kernel sockets, for the selftests");
