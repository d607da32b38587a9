// SPDX-License-Identifier: GPL-2.0
/*
 * A test module for netns.c: kernel sockets of AF_CUSTOM
 * (sock_create_kern) in the network namespace of the task that loads it.
 *
 * On load it makes a listener on 127.0.0.1:port, connects a client to it
 * and accepts the child; the client closes first, then the child, then
 * the listener.  What is left is the client, a kernel socket's orphan in
 * TIME_WAIT, whose timer runs against the namespace's state for 2 s.  The
 * accepted child (an ordinary socket, which holds its namespace) is gone
 * by then.  net_held reports what creating the listener added to the
 * namespace's reference count: a kernel socket of ours must hold its
 * namespace (1), or the namespace could be dismantled under the orphan
 * and its timer read freed state.  The module keeps no socket: it can be
 * unloaded at once.
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
static int net_held = -1;
module_param(net_held, int, 0444);
MODULE_PARM_DESC(net_held, "namespace references a kernel socket took (read-only)");

static int __init afc_kern_sock_init(void)
{
	struct net *net = current->nsproxy->net_ns;
	struct sockaddr_custom a = {
		.scu_family = family,
		.scu_port = htons(port),
		.scu_addr = htonl(INADDR_LOOPBACK),
	};
	struct socket *listener, *client, *child = NULL;
	int before, err;

	/* The loading task holds the namespace; nothing else in it runs. */
	before = refcount_read(&net->ns.count);
	err = sock_create_kern(net, family, SOCK_STREAM, 0, &listener);
	if (err)
		return err;
	net_held = refcount_read(&net->ns.count) - before;
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
	/* The client's FIN first: it ends in TIME_WAIT, the child closes. */
	sock_release(client);
	if (child)
		sock_release(child);
out:
	sock_release(listener);
	if (err)
		pr_err("afc_kern_sock: %d\n", err);
	return err;
}

static void __exit afc_kern_sock_exit(void)
{
}

module_init(afc_kern_sock_init);
module_exit(afc_kern_sock_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("AF_CUSTOM kernel sockets, for the selftests");
