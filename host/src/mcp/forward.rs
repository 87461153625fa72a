//! Ordered forwarding of one call's notifications (progress, log messages)
//! to its client. The task that sends them starts with the first one: most
//! calls send none, and a task spawned for every call costs a spawn, a
//! channel, a timer and, under load, a wake-up of the other worker
//! (`just bench`, 32 HTTP clients; rmcp's client asks for progress on
//! every request).

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

/// The sending task's handle, once it started.
type Started = Arc<Mutex<Option<JoinHandle<()>>>>;

/// Not yet started (`start` still there), or sending through `tx`.
struct Lazy<F, T> {
    start: Option<F>,
    tx: Option<UnboundedSender<T>>,
}

/// A queue for one call's notifications: `push` sends each, in order,
/// through the task `send` runs on the receiving end, spawned on the first
/// push. The task ends once the queue is dropped and all are sent.
pub(super) fn queue<T, F, Fut>(send: F) -> (impl Fn(T) + Send + Sync + 'static, Pending)
where
    T: Send + 'static,
    F: FnOnce(UnboundedReceiver<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let started = Started::default();
    let pending = Pending(started.clone());
    // Plugins report from inside the wasm call; the runtime is the call's.
    let runtime = tokio::runtime::Handle::current();
    let lazy = Mutex::new(Lazy { start: Some(send), tx: None });
    let push = move |item: T| {
        let mut lazy = lazy.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(send) = lazy.start.take() {
            let (tx, rx) = unbounded_channel();
            *started.lock().unwrap_or_else(PoisonError::into_inner) = Some(runtime.spawn(send(rx)));
            lazy.tx = Some(tx);
        }
        if let Some(tx) = &lazy.tx {
            let _ = tx.send(item);
        }
    };
    (push, pending)
}

/// What a call's queue still has to send.
pub(super) struct Pending(Started);

impl Pending {
    /// Waits, at most `limit`, until everything pushed is sent. Call it
    /// after the queue is dropped (the call is over), else it waits the
    /// whole `limit`.
    pub(super) async fn sent(self, limit: Duration) {
        let task = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(limit, task).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_is_spawned_until_the_first_push_then_all_arrive_in_order() {
        let (seen_tx, mut seen) = unbounded_channel();
        let (push, pending) = queue(move |mut rx: UnboundedReceiver<u32>| async move {
            while let Some(n) = rx.recv().await {
                let _ = seen_tx.send(n);
            }
        });
        assert!(pending.0.lock().unwrap().is_none(), "no task before the first push");
        for n in 0..5 {
            push(n);
        }
        assert!(pending.0.lock().unwrap().is_some());
        drop(push);
        pending.sent(Duration::from_secs(5)).await;
        let mut got = Vec::new();
        while let Ok(n) = seen.try_recv() {
            got.push(n);
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn an_unused_queue_is_sent_at_once() {
        let (push, pending) = queue(|_rx: UnboundedReceiver<()>| async {});
        drop(push);
        // No task: no waiting for the limit either.
        tokio::time::timeout(Duration::from_millis(100), pending.sent(Duration::from_secs(60)))
            .await
            .expect("nothing to wait for");
    }
}
