//! Serving the router on a TCP listener in a background task.

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running emulator server. Dropping it stops the server (without waiting); use
/// [`ServerHandle::shutdown`] to stop it and wait.
#[derive(Debug)]
pub struct ServerHandle {
    /// Base URL, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The base URL (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops accepting connections, lets in-flight requests finish and waits for the task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub(crate) async fn serve(
    router: axum::Router,
    addr: std::net::SocketAddr,
) -> std::io::Result<ServerHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "Emulator server failed.");
        }
    });
    tracing::info!(url = %format!("http://{local}"), "Emulator listening.");
    Ok(ServerHandle {
        url: format!("http://{local}"),
        stop: Some(stop),
        task: Some(task),
    })
}
