//! Host tests of the crate through the `AFC_FAMILY=inet` test hook (TCP
//! on 127.0.0.1, the same code paths as on AF_CUSTOM); the VM program
//! `selftests/rust/src/bin/rust_tokio.rs` runs the like on AF_CUSTOM.

use afc_tokio::{Listener, SockAddr, Stream};
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Once;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const GUARD: Duration = Duration::from_secs(20);

fn inet() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::env::set_var("AFC_FAMILY", "inet"));
    assert!(afc_socket::is_inet_test_mode().unwrap());
}

async fn pair() -> (Stream, Stream) {
    let l = Listener::bind(SockAddr::localhost(0)).unwrap();
    let addr = l.local_addr().unwrap();
    let (c, s) = tokio::join!(Stream::connect(addr), l.accept());
    let c = c.unwrap();
    let (s, peer) = s.unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(c.peer_addr().unwrap(), addr);
    (c, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn echo_many_clients() {
    inet();
    const CLIENTS: usize = 50;
    const LEN: usize = 64 << 10;
    let l = Listener::bind(SockAddr::localhost(0)).unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        for _ in 0..CLIENTS {
            let (s, _) = l.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                tokio::io::copy(&mut r, &mut w).await.unwrap();
            });
        }
    });
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        clients.push(tokio::spawn(async move {
            let c = Stream::connect(addr).await.unwrap();
            let data: Vec<u8> = (0..LEN).map(|j| (i + j) as u8).collect();
            let (mut r, mut w) = c.into_split();
            let d = data.clone();
            let wr = tokio::spawn(async move {
                w.write_all(&d).await.unwrap();
                // dropping w shuts down writing
            });
            let mut back = Vec::new();
            r.read_to_end(&mut back).await.unwrap();
            wr.await.unwrap();
            assert!(back == data, "client {i}: echo differs");
        }));
    }
    timeout(GUARD, async {
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
    })
    .await
    .expect("echo hung");
}

#[tokio::test]
async fn half_close_split_and_reunite() {
    inet();
    let (mut c, s) = pair().await;
    {
        let (mut r, mut w) = c.split();
        w.write_all(b"ping").await.unwrap();
        w.shutdown().await.unwrap();
        let (mut sr, mut sw) = s.into_split();
        let mut got = Vec::new();
        timeout(GUARD, sr.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, b"ping");
        // The other direction still works after our write shutdown.
        sw.write_all(b"pong").await.unwrap();
        drop(sw); // shuts down the server's writing
        let mut back = Vec::new();
        timeout(GUARD, r.read_to_end(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, b"pong");
    }
    // reunite: same stream only.
    let (c2, s2) = pair().await;
    let (r1, w1) = c2.into_split();
    let (r2, w2) = s2.into_split();
    let e = r1.reunite(w2).unwrap_err();
    let (r1, w2) = (e.0, e.1);
    let c2 = r1.reunite(w1).unwrap();
    let s2 = w2.reunite(r2).unwrap();
    // Not shut down by the reunite: data still flows both ways.
    let (mut c2, mut s2) = (c2, s2);
    c2.write_all(b"x").await.unwrap();
    let mut b = [0u8; 1];
    s2.read_exact(&mut b).await.unwrap();
    s2.write_all(b"y").await.unwrap();
    c2.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"y");
}

#[tokio::test]
async fn refused() {
    inet();
    let l = Listener::bind(SockAddr::localhost(0)).unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let e = timeout(GUARD, Stream::connect(addr))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
}

#[tokio::test]
async fn incoming_stream_and_peek_try_read() {
    inet();
    use futures_core::Stream as _;
    let l = Listener::bind(SockAddr::localhost(0)).unwrap();
    let addr = l.local_addr().unwrap();
    let c = tokio::spawn(async move {
        let mut c = Stream::connect(addr).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        c
    });
    let mut inc = l.incoming();
    let s = timeout(
        GUARD,
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut inc).poll_next(cx)),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    let _c = c.await.unwrap();
    let mut b = [0u8; 5];
    let n = timeout(GUARD, s.peek(&mut b)).await.unwrap().unwrap();
    assert!(n > 0 && b[..n] == b"hello"[..n]);
    timeout(GUARD, s.readable()).await.unwrap().unwrap();
    let mut got = 0;
    while got < 5 {
        match s.try_read(&mut b[got..]) {
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                timeout(GUARD, s.readable()).await.unwrap().unwrap()
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(&b, b"hello");
    assert_eq!(
        s.try_read(&mut b).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    // The second connection through next().
    let c2 = tokio::spawn(Stream::connect(addr));
    let s2 = timeout(GUARD, l.incoming().next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let c2 = c2.await.unwrap().unwrap();
    assert_eq!(s2.peer_addr().unwrap(), c2.local_addr().unwrap());
}

#[tokio::test]
async fn conversions() {
    inet();
    // sync -> async -> sync -> OwnedFd -> async.
    let sl = afc_socket::Listener::bind(SockAddr::localhost(0)).unwrap();
    let addr = sl.local_addr().unwrap();
    let l = Listener::from_std(sl).unwrap();
    let sc = afc_socket::Stream::connect(addr).unwrap();
    let c = Stream::try_from(sc).unwrap();
    let (s, _) = timeout(GUARD, l.accept()).await.unwrap().unwrap();
    let fd = c.as_raw_fd();
    let back: afc_socket::Stream = c.into_std();
    assert_eq!(back.as_raw_fd(), fd);
    back.set_nonblocking(false).unwrap();
    use std::io::Write;
    (&back).write_all(b"z").unwrap();
    let owned: OwnedFd = back.into();
    let mut c = Stream::try_from(owned).unwrap();
    let mut s = s;
    let mut b = [0u8; 1];
    timeout(GUARD, s.read_exact(&mut b)).await.unwrap().unwrap();
    assert_eq!(&b, b"z");
    c.write_all(b"w").await.unwrap();
    timeout(GUARD, s.read_exact(&mut b)).await.unwrap().unwrap();
    assert_eq!(&b, b"w");
    s.shutdown(Shutdown::Both).unwrap();
    let mut rest = Vec::new();
    timeout(GUARD, c.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty());
    let lfd: OwnedFd = l.into();
    let l = Listener::try_from(lfd).unwrap();
    assert_eq!(l.local_addr().unwrap(), addr);
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
}
