//! A server of ours (reference customer, config service) on its own tokio runtime thread,
//! bound on loopback, stopped on drop.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::thread::JoinHandle;
use std::time::Duration;

pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct ServerThread {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Bind `addr` (port 0 = any) and run `serve(listener, stop)` until the thread is stopped.
    pub fn spawn<F, Fut>(addr: SocketAddr, serve: F) -> ServerThread
    where
        F: FnOnce(tokio::net::TcpListener, StopSignal) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
                addr_tx.send(listener.local_addr().expect("addr")).expect("send addr");
                serve(
                    listener,
                    Box::pin(async {
                        let _ = stop_rx.await;
                    }),
                )
                .await;
            });
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("server listening");
        ServerThread { addr, stop: Some(stop_tx), thread: Some(thread) }
    }

    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.stop();
    }
}
