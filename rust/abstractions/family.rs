// SPDX-License-Identifier: GPL-2.0

//! The address family: `net_proto_family.create` and the `proto_ops`
//! vtable, adapted to a safe trait in the style of `kernel::net::phy`.

use super::msg::MsgHdr;
use super::sock::{Sock, SockData, SockObj};
use super::socket::Socket;
use super::uapi::{SOL_SOCKET, SO_REUSEPORT};
use super::{proto, static_cell::StaticCell};
use crate::abstractions::bindings;
use core::marker::PhantomData;
use kernel::{error::code::ENOIOCTLCMD, error::from_result, ffi, prelude::*, ThisModule};

/// A socket option value from `setsockopt`.
pub(crate) struct OptVal {
    ptr: bindings::sockptr_t,
    len: u32,
}

impl OptVal {
    /// Reads an `int` option (`EINVAL` if shorter, `EFAULT` on a bad address).
    pub(crate) fn int(&self) -> Result<i32> {
        let mut v = 0;
        // SAFETY: `ptr`/`len` are the caller's option buffer as the socket
        // layer passed them; the helper checks the length and copies.
        kernel::error::to_result(unsafe {
            bindings::afc_sockptr_get_int(self.ptr, self.len, &mut v)
        })?;
        Ok(v)
    }

    /// The length the caller gave.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Copies the first bytes of the value into `out` (as many as both
    /// hold); returns how many (`EFAULT` on a bad address).
    pub(crate) fn bytes(&self, out: &mut [u8]) -> Result<usize> {
        let size = u32::try_from(out.len()).unwrap_or(u32::MAX);
        // SAFETY: `ptr`/`len` are the caller's option buffer as the socket
        // layer passed them; the helper copies at most `size` bytes into
        // `out`, which holds that many.
        let n = unsafe {
            bindings::afc_sockptr_get_bytes(self.ptr, self.len, out.as_mut_ptr().cast(), size)
        };
        kernel::error::to_result(n.min(0))?;
        Ok(n as usize)
    }
}

/// A `getsockopt` value for the user.
pub(crate) enum OptGet {
    /// An `int` (truncated to a shorter `optlen`).
    Int(i32),
    /// A NUL-padded name of up to 16 bytes (`TCP_CONGESTION`).
    Name([u8; 16]),
    /// A `struct tcp_info` (`TCP_INFO`), boxed: 248 bytes.
    TcpInfo(KBox<TcpInfo>),
}

/// `struct tcp_info` (`linux/tcp.h`), as the bindings lay it out.
pub(crate) type TcpInfo = bindings::tcp_info;

/// What a socket family implements; called from the `proto_ops` adapter
/// in process context with no lock held.
pub(crate) trait SocketFamily {
    /// The per-socket state behind each `struct sock`.
    type Data: SockData;

    /// Checks the arguments of `socket(2)` before anything is allocated.
    fn check_create(sock_type: u32, protocol: i32) -> Result;
    /// Sets up a new socket made by `socket(2)`.
    fn init(sk: &Sock<'_, Self::Data>);
    /// `close(2)`: called before the socket is orphaned and its reference dropped.
    fn release(sk: &Sock<'_, Self::Data>);
    /// `bind(2)`: `addr` is the address as the user passed it.
    fn bind(sk: &Sock<'_, Self::Data>, addr: &[u8]) -> Result;
    /// `connect(2)`; `flags` are the file's flags (`O_NONBLOCK`).
    fn connect(sk: &Sock<'_, Self::Data>, sock: &Socket, addr: &[u8], flags: u32) -> Result;
    /// `listen(2)`.
    fn listen(sk: &Sock<'_, Self::Data>, sock: &Socket, backlog: i32) -> Result;
    /// `accept(2)`: grafts a connection onto `newsock`.
    fn accept(sk: &Sock<'_, Self::Data>, newsock: &Socket, flags: u32) -> Result;
    /// `getsockname(2)`/`getpeername(2)`: writes the address, returns its length.
    fn getname(sk: &Sock<'_, Self::Data>, out: &mut [u8; 16], peer: bool) -> Result<usize>;
    /// `poll(2)`, after the wait queue was registered: the event mask.
    fn poll(sk: &Sock<'_, Self::Data>) -> u32;
    /// `ioctl(2)`: the `int` to store at `arg`, or `ENOIOCTLCMD`.
    fn ioctl(sk: &Sock<'_, Self::Data>, cmd: u32) -> Result<i32>;
    /// `shutdown(2)` with `how` as the user passed it.
    fn shutdown(sk: &Sock<'_, Self::Data>, sock: &Socket, how: i32) -> Result;
    /// `setsockopt(2)` for levels other than `SOL_SOCKET`, for
    /// `SO_REUSEPORT`, and after the common code set them, for
    /// `SO_BINDTODEVICE` and `SO_BINDTOIFINDEX`.
    fn setsockopt(sk: &Sock<'_, Self::Data>, level: i32, name: i32, val: &OptVal) -> Result;
    /// `getsockopt(2)` for levels other than `SOL_SOCKET`.
    fn getsockopt(sk: &Sock<'_, Self::Data>, level: i32, name: i32) -> Result<OptGet>;
    /// `sendmsg(2)`: returns the bytes taken.
    fn sendmsg(
        sk: &Sock<'_, Self::Data>,
        msg: &mut MsgHdr,
        len: usize,
        flags: u32,
    ) -> Result<usize>;
    /// `recvmsg(2)`: returns the bytes copied.
    fn recvmsg(
        sk: &Sock<'_, Self::Data>,
        msg: &mut MsgHdr,
        len: usize,
        flags: u32,
    ) -> Result<usize>;
}

static FAMILY: StaticCell<bindings::net_proto_family> = StaticCell::zeroed();
static OPS: StaticCell<bindings::proto_ops> = StaticCell::zeroed();

struct Adapter<F>(PhantomData<F>);

impl<F: SocketFamily> Adapter<F> {
    /// The `proto_ops` of `F`, as far as it is known before the module
    /// loads: everything but the family number and the owner, which
    /// [`FamilyRegistration::register`] fills in.  Unset entries are NULL.
    const OPS: bindings::proto_ops = bindings::proto_ops {
        release: Some(Self::release),
        bind: Some(Self::bind),
        connect: Some(Self::connect),
        socketpair: Some(bindings::sock_no_socketpair),
        accept: Some(Self::accept),
        getname: Some(Self::getname),
        poll: Some(Self::poll),
        ioctl: Some(Self::ioctl),
        listen: Some(Self::listen),
        shutdown: Some(Self::shutdown),
        setsockopt: Some(Self::setsockopt),
        getsockopt: Some(Self::getsockopt),
        sendmsg: Some(Self::sendmsg),
        recvmsg: Some(Self::recvmsg),
        set_rcvlowat: Some(super::sock::set_rcvlowat::<F::Data>),
        // `SO_PEEK_OFF`, as TCP's (`recvmsg` reads `sk_peek_off`).
        set_peek_off: Some(bindings::sk_set_peek_off),
        mmap: Some(bindings::sock_no_mmap),
        // SAFETY: all-zero is a valid `proto_ops` (integers, raw pointers
        // and `Option<fn>`: the remaining entries NULL).
        ..unsafe { core::mem::MaybeUninit::<bindings::proto_ops>::zeroed().assume_init() }
    };
}

/// The sock of a socket in a `proto_ops` call.
///
/// # Safety
///
/// `sock` must be a valid socket of ours whose `sk` (if any) `create` or
/// `accept` set up, kept alive by the running call.
unsafe fn sk_of<'a, T: SockData>(sock: *mut bindings::socket) -> Result<Sock<'a, T>> {
    // SAFETY: per the function's contract.
    unsafe { Sock::<T>::from_raw((*sock).sk) }.ok_or(EINVAL)
}

impl<F: SocketFamily> Adapter<F> {
    /// # Safety
    ///
    /// The socket core's `__sock_create` calls it with a valid namespace and a
    /// new `struct socket` of our family, which has no `sk` yet.
    unsafe extern "C" fn create(
        net: *mut bindings::net,
        sock: *mut bindings::socket,
        protocol: ffi::c_int,
        kern: ffi::c_int,
    ) -> ffi::c_int {
        from_result(|| {
            // SAFETY: the VFS hands us a valid, new `struct socket`.
            let socket = unsafe { Socket::from_raw(sock) };
            F::check_create(socket.type_(), protocol)?;
            // SAFETY: `OPS` was filled before the family was registered and
            // is only read from now on.
            let family = unsafe { (*OPS.get()).family };
            // SAFETY: `net` is valid for the call; `proto::raw()` is our
            // registered proto (registered before the family).
            let sk = unsafe {
                bindings::sk_alloc(
                    net,
                    family,
                    kernel::bindings::GFP_KERNEL,
                    proto::raw(),
                    kern,
                )
            };
            if sk.is_null() {
                return Err(ENOMEM);
            }
            // A kernel socket (`sock_create_kern`) holds no reference on
            // its namespace, so the namespace could be dismantled, and our
            // state in it freed, while the socket or its orphan still runs
            // timers against that state: it takes one of its own, put by
            // its destructor (`afc_sk_kern_hold_net`).
            // SAFETY: `sk` is fresh and ours alone.
            if !unsafe { bindings::afc_sk_kern_hold_net(sk) } {
                // The namespace is being dismantled.
                // SAFETY: nothing else has seen `sk`, whose destructor is
                // not ours yet; `sk_free` puts `sk_alloc`'s references.
                unsafe { bindings::sk_free(sk) };
                return Err(super::errno::ENETDOWN());
            }
            // SAFETY: `sk` is a fresh, zeroed object of `obj_size` =
            // `size_of::<SockObj<F::Data>>()`; we own its only reference.
            unsafe {
                bindings::sock_init_data(sock, sk);
                SockObj::<F::Data>::init(sk);
                (*sk).sk_protocol = protocol as u16;
                (*sock).ops = OPS.get();
                bindings::afc_socket_custom_sockopt(sock);
            }
            // SAFETY: just initialised; the socket holds it.
            if let Some(s) = unsafe { Sock::<F::Data>::from_raw(sk) } {
                F::init(&s);
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called once per socket, by `sock_close`, with the valid socket being
    /// closed, whose `sk` (if any) `create` or `accept` set up.
    unsafe extern "C" fn release(sock: *mut bindings::socket) -> ffi::c_int {
        // SAFETY: the VFS passes the valid socket being closed.
        let sk = unsafe { (*sock).sk };
        // SAFETY: `sk` (if any) is ours, initialised in `create` or
        // `accept`, and the socket's reference keeps it alive for the call.
        if let Some(s) = unsafe { Sock::<F::Data>::from_raw(sk) } {
            F::release(&s);
            // SAFETY: `sk` is valid; orphaning under the socket lock and
            // dropping the socket's reference is the kernel's discipline.
            unsafe {
                bindings::lock_sock_nested(sk, 0);
                bindings::afc_sock_orphan(sk);
                bindings::release_sock(sk);
                (*sock).sk = core::ptr::null_mut();
                bindings::afc_sock_put(sk);
            }
        }
        0
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.bind` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn bind(
        sock: *mut bindings::socket,
        addr: *mut bindings::sockaddr,
        len: ffi::c_int,
    ) -> ffi::c_int {
        from_result(|| {
            let len = usize::try_from(len).map_err(|_| EINVAL)?;
            // SAFETY: `move_addr_to_kernel` copied `len` bytes (at most
            // `sizeof(sockaddr_storage)`) of the user's address.
            let bytes = unsafe { core::slice::from_raw_parts(addr.cast::<u8>(), len) };
            // SAFETY: a socket in our `proto_ops` call.
            let sk = unsafe { sk_of::<F::Data>(sock) }?;
            F::bind(&sk, bytes)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.connect` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn connect(
        sock: *mut bindings::socket,
        addr: *mut bindings::sockaddr,
        len: ffi::c_int,
        flags: ffi::c_int,
    ) -> ffi::c_int {
        from_result(|| {
            let len = usize::try_from(len).map_err(|_| EINVAL)?;
            // SAFETY: as in `bind`.
            let bytes = unsafe { core::slice::from_raw_parts(addr.cast::<u8>(), len) };
            // SAFETY: a socket in our `proto_ops` call.
            let (sk, socket) = unsafe { (sk_of::<F::Data>(sock)?, Socket::from_raw(sock)) };
            F::connect(&sk, socket, bytes, flags as u32)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.listen` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn listen(sock: *mut bindings::socket, backlog: ffi::c_int) -> ffi::c_int {
        from_result(|| {
            // SAFETY: a socket in our `proto_ops` call.
            let (sk, socket) = unsafe { (sk_of::<F::Data>(sock)?, Socket::from_raw(sock)) };
            F::listen(&sk, socket, backlog)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.accept` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn accept(
        sock: *mut bindings::socket,
        newsock: *mut bindings::socket,
        arg: *mut bindings::proto_accept_arg,
    ) -> ffi::c_int {
        from_result(|| {
            // SAFETY: the socket layer passes the listening socket, a new
            // socket to graft onto, and the accept arguments.
            let (sk, newsocket, flags) = unsafe {
                (
                    sk_of::<F::Data>(sock)?,
                    Socket::from_raw(newsock),
                    bindings::afc_accept_arg_flags(arg),
                )
            };
            F::accept(&sk, newsocket, flags as u32)?;
            // SAFETY: `newsock` is valid; it is ours now.
            unsafe {
                (*newsock).ops = OPS.get();
                bindings::afc_socket_custom_sockopt(newsock);
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.getname` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn getname(
        sock: *mut bindings::socket,
        addr: *mut bindings::sockaddr,
        peer: ffi::c_int,
    ) -> ffi::c_int {
        from_result(|| {
            // SAFETY: a socket in our `proto_ops` call.
            let sk = unsafe { sk_of::<F::Data>(sock) }?;
            let mut out = [0u8; 16];
            let n = F::getname(&sk, &mut out, peer != 0)?.min(out.len());
            // SAFETY: the socket layer passes a `sockaddr_storage` (128
            // bytes) to fill; we write at most 16.
            unsafe { core::ptr::copy_nonoverlapping(out.as_ptr(), addr.cast::<u8>(), n) };
            Ok(n as i32)
        })
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.poll` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn poll(
        file: *mut bindings::file,
        sock: *mut bindings::socket,
        wait: *mut bindings::poll_table_struct,
    ) -> bindings::__poll_t {
        // SAFETY: the VFS passes the file, its socket and the poll table.
        unsafe { bindings::afc_sock_poll_wait(file, sock, wait) };
        // SAFETY: a socket in our `proto_ops` call.
        match unsafe { sk_of::<F::Data>(sock) } {
            Ok(sk) => F::poll(&sk),
            Err(_) => 0,
        }
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.ioctl` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn ioctl(
        sock: *mut bindings::socket,
        cmd: ffi::c_uint,
        arg: ffi::c_ulong,
    ) -> ffi::c_int {
        from_result(|| {
            // SAFETY: a socket in our `proto_ops` call.
            let sk = unsafe { sk_of::<F::Data>(sock) }?;
            let v = F::ioctl(&sk, cmd)?;
            // SAFETY: `arg` is the user's pointer; put_user checks it.
            kernel::error::to_result(unsafe {
                bindings::afc_put_user_int(v, arg as *mut ffi::c_void)
            })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.shutdown` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn shutdown(sock: *mut bindings::socket, how: ffi::c_int) -> ffi::c_int {
        from_result(|| {
            // SAFETY: a socket in our `proto_ops` call.
            let (sk, socket) = unsafe { (sk_of::<F::Data>(sock)?, Socket::from_raw(sock)) };
            F::shutdown(&sk, socket, how)?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.setsockopt` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn setsockopt(
        sock: *mut bindings::socket,
        level: ffi::c_int,
        name: ffi::c_int,
        val: bindings::sockptr_t,
        len: ffi::c_uint,
    ) -> ffi::c_int {
        from_result(|| {
            // SAFETY: a socket in our `proto_ops` call.
            let sk = unsafe { sk_of::<F::Data>(sock) }?;
            if level == SOL_SOCKET as i32 && name != SO_REUSEPORT as i32 {
                // Every other SOL_SOCKET option is the common code's
                // (SOCK_CUSTOM_SOCKOPT routes them all here).
                // SAFETY: the arguments as the socket layer passed them.
                kernel::error::to_result(unsafe {
                    bindings::sock_setsockopt(sock, level, name, val, len)
                })?;
                // The family hears of a new bound device once it is set.
                if super::uapi::binds_device(name) {
                    F::setsockopt(&sk, level, name, &OptVal { ptr: val, len })?;
                }
                return Ok(0);
            }
            F::setsockopt(&sk, level, name, &OptVal { ptr: val, len })?;
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.getsockopt` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn getsockopt(
        sock: *mut bindings::socket,
        level: ffi::c_int,
        name: ffi::c_int,
        val: *mut ffi::c_char,
        len: *mut ffi::c_int,
    ) -> ffi::c_int {
        from_result(|| {
            // SAFETY: a socket in our `proto_ops` call.
            let sk = unsafe { sk_of::<F::Data>(sock) }?;
            let put = |buf: *const ffi::c_void, size: usize| {
                // SAFETY: user pointers as the socket layer passed them;
                // `buf` holds `size` bytes; the helper checks and copies.
                kernel::error::to_result(unsafe {
                    bindings::afc_getsockopt_put_bytes(val, len, buf, size as u32)
                })
            };
            match F::getsockopt(&sk, level, name)? {
                OptGet::Int(v) => {
                    // SAFETY: user pointers as the socket layer passed
                    // them; the helper checks and copies.
                    kernel::error::to_result(unsafe {
                        bindings::afc_getsockopt_put_int(val, len, v)
                    })?
                }
                OptGet::Name(n) => put(n.as_ptr().cast(), n.len())?,
                OptGet::TcpInfo(i) => put((&raw const *i).cast(), core::mem::size_of::<TcpInfo>())?,
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.sendmsg` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn sendmsg(
        sock: *mut bindings::socket,
        m: *mut bindings::msghdr,
        len: usize,
    ) -> ffi::c_int {
        hot_result(|| {
            // SAFETY: a socket in our `proto_ops` call and its msghdr.
            let (sk, mut msg, flags) =
                unsafe { (sk_of::<F::Data>(sock)?, MsgHdr::from_raw(m), (*m).msg_flags) };
            let n = F::sendmsg(&sk, &mut msg, len, flags)?;
            Ok(i32::try_from(n).unwrap_or(i32::MAX))
        })
    }

    /// # Safety
    ///
    /// The socket core calls it as `proto_ops.recvmsg` with a valid socket of our
    /// family (its `sk` set up by `create` or `accept`, kept alive by the
    /// running call) and the arguments as the syscall layer checked them.
    unsafe extern "C" fn recvmsg(
        sock: *mut bindings::socket,
        m: *mut bindings::msghdr,
        len: usize,
        flags: ffi::c_int,
    ) -> ffi::c_int {
        hot_result(|| {
            // SAFETY: a socket in our `proto_ops` call and its msghdr.
            let (sk, mut msg) = unsafe { (sk_of::<F::Data>(sock)?, MsgHdr::from_raw(m)) };
            let n = F::recvmsg(&sk, &mut msg, len, flags as u32)?;
            Ok(i32::try_from(n).unwrap_or(i32::MAX))
        })
    }
}

/// Registration of the family with `sock_register`; unregistered on drop.
///
/// Unlike `kernel::net::phy`'s `Registration`, this does not own its
/// tables: they are the module statics `FAMILY` and `OPS`.  The kernel's
/// `net_proto_family.create` is called without a pointer to its table,
/// so `create` must find `OPS` (for `sock->ops` and the family number)
/// without one; and neither table can be a `const`, because the family
/// number is the `family=` module parameter, known only at load.  What is
/// known before, `OPS`'s callbacks, is the constant `Adapter::OPS`.
pub(crate) struct FamilyRegistration<F: SocketFamily>(PhantomData<F>);

impl<F: SocketFamily> FamilyRegistration<F> {
    /// Registers family number `family`; fails with `EEXIST` if taken.
    pub(crate) fn register(family: i32, module: &'static ThisModule) -> Result<Self> {
        let ops = OPS.get();
        let fam = FAMILY.get();
        // SAFETY: module init is serialised and neither table is registered
        // yet, so nobody reads them while they are filled.
        unsafe {
            *ops = bindings::proto_ops {
                family,
                owner: module.as_ptr().cast(),
                ..Adapter::<F>::OPS
            };
            (*fam).family = family;
            (*fam).create = Some(Adapter::<F>::create);
            (*fam).owner = module.as_ptr().cast();
        }
        // SAFETY: `FAMILY` is static and filled.
        kernel::error::to_result(unsafe { bindings::sock_register(fam) })?;
        Ok(Self(PhantomData))
    }
}

impl<F: SocketFamily> Drop for FamilyRegistration<F> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; sock_unregister waits for
        // running create() calls (synchronize_rcu).
        unsafe { bindings::sock_unregister((*OPS.get()).family) };
    }
}

/// `ENOIOCTLCMD`: the ioctl is not ours (the socket layer tries its own).
pub(crate) fn no_ioctl() -> Error {
    ENOIOCTLCMD
}

/// `from_result` for the per-syscall calls (`sendmsg`, `recvmsg`), inlined:
/// the kernel crate's was a call of its own, with its closure another,
/// on every read and write.
#[inline(always)]
fn hot_result(f: impl FnOnce() -> Result<ffi::c_int>) -> ffi::c_int {
    match f() {
        Ok(v) => v,
        Err(e) => e.to_errno(),
    }
}
