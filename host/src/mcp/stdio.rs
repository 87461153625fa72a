//! Stdin and stdout for the stdio transport, read and written by the
//! session's own thread.
//!
//! tokio's `stdin()`/`stdout()` hand every read and write to a blocking
//! thread, so each message costs thread wake-ups both ways (`just bench`
//! counted about twenty futex calls per tool call). MCP clients give a
//! server pipes (Python, rmcp) or Unix sockets (Node), and both can be
//! driven by the reactor once non-blocking. Anything else (a terminal, a
//! file) keeps tokio's blocking stdio. The descriptors' original flags
//! come back when the session ends, since a pipe's open file may be shared.

use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;

use rustix::fs::{FileType, OFlags, fcntl_getfl, fcntl_setfl, fstat};
use tokio::io::{AsyncRead, AsyncWrite};

/// The session's input.
pub(super) type Input = Pin<Box<dyn AsyncRead + Send>>;
/// The session's output.
pub(super) type Output = Pin<Box<dyn AsyncWrite + Send>>;

/// Stdin and stdout as async streams, and what restores their flags when
/// dropped.
pub(super) fn streams() -> (Input, Output, RestoreFlags) {
    let mut restore = RestoreFlags(Vec::new());
    let input = reactor_or_blocking(
        std::io::stdin().as_fd().try_clone_to_owned(),
        &mut restore,
        Direction::Read,
        |fd| tokio::net::unix::pipe::Receiver::from_owned_fd(fd).map(|r| Box::pin(r) as Input),
        |s| Box::pin(s) as Input,
        || Box::pin(tokio::io::stdin()) as Input,
    );
    let output = reactor_or_blocking(
        std::io::stdout().as_fd().try_clone_to_owned(),
        &mut restore,
        Direction::Write,
        |fd| tokio::net::unix::pipe::Sender::from_owned_fd(fd).map(|w| Box::pin(w) as Output),
        |s| Box::pin(s) as Output,
        || Box::pin(tokio::io::stdout()) as Output,
    );
    (input, output, restore)
}

/// One of the two streams: on the reactor as a pipe or a socket, else (a
/// terminal, a file, or a descriptor the reactor refused) through tokio's
/// blocking stdio.
fn reactor_or_blocking<S>(
    fd: std::io::Result<OwnedFd>,
    restore: &mut RestoreFlags,
    direction: Direction,
    pipe: impl FnOnce(OwnedFd) -> std::io::Result<S>,
    socket: impl FnOnce(tokio::net::UnixStream) -> S,
    blocking: impl FnOnce() -> S,
) -> S {
    let name = match direction {
        Direction::Read => "stdin",
        Direction::Write => "stdout",
    };
    let stream = match reactor_stream(fd, restore, direction) {
        Some(Stream::Pipe(fd)) => pipe(fd),
        Some(Stream::Socket(s)) => tokio::net::UnixStream::from_std(s).map(socket),
        None => return blocking(),
    };
    stream.unwrap_or_else(|e| {
        tracing::debug!("{name} through tokio's blocking stdio ({e})");
        blocking()
    })
}

enum Direction {
    Read,
    Write,
}

enum Stream {
    Pipe(OwnedFd),
    Socket(std::os::unix::net::UnixStream),
}

/// A duplicate of stdin or stdout the reactor can drive, its flags noted
/// in `restore`; `None` for a terminal, a file or anything unusable.
fn reactor_stream(fd: std::io::Result<OwnedFd>, restore: &mut RestoreFlags, direction: Direction) -> Option<Stream> {
    let fd = fd.ok()?;
    let kind = FileType::from_raw_mode(fstat(&fd).ok()?.st_mode);
    let flags = fcntl_getfl(&fd).ok()?;
    let usable = match direction {
        Direction::Read => !flags.contains(OFlags::WRONLY),
        Direction::Write => flags.intersects(OFlags::WRONLY | OFlags::RDWR),
    };
    if !usable {
        return None;
    }
    let stream = match kind {
        FileType::Fifo => Stream::Pipe(fd.try_clone().ok()?),
        FileType::Socket if is_unix_stream(&fd) => {
            let socket = std::os::unix::net::UnixStream::from(fd.try_clone().ok()?);
            socket.set_nonblocking(true).ok()?;
            Stream::Socket(socket)
        }
        _ => return None,
    };
    restore.0.push((fd, flags));
    Some(stream)
}

fn is_unix_stream(fd: &OwnedFd) -> bool {
    use rustix::net::{AddressFamily, SocketType, sockopt};
    sockopt::socket_domain(fd).is_ok_and(|d| d == AddressFamily::UNIX)
        && sockopt::socket_type(fd).is_ok_and(|t| t == SocketType::STREAM)
}

/// Puts stdin's and stdout's flags back (blocking) when dropped.
pub(super) struct RestoreFlags(Vec<(OwnedFd, OFlags)>);

impl Drop for RestoreFlags {
    fn drop(&mut self) {
        for (fd, flags) in &self.0 {
            let _ = fcntl_setfl(fd, *flags);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_is_driven_by_the_reactor_and_its_flags_come_back() {
        let (read, write) = rustix::pipe::pipe().expect("pipe");
        let before = fcntl_getfl(&read).expect("flags");
        let mut restore = RestoreFlags(Vec::new());
        let stream = reactor_stream(read.try_clone(), &mut restore, Direction::Read);
        assert!(matches!(stream, Some(Stream::Pipe(_))));
        // The write end cannot be read from.
        assert!(reactor_stream(write.try_clone(), &mut restore, Direction::Read).is_none());
        if let Some(Stream::Pipe(fd)) = stream {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(fd).expect("receiver");
                drop(receiver);
            });
        }
        assert!(fcntl_getfl(&read).expect("flags").contains(OFlags::NONBLOCK));
        drop(restore);
        assert_eq!(fcntl_getfl(&read).expect("flags"), before);
    }

    #[test]
    fn a_unix_socket_is_driven_by_the_reactor_and_a_file_is_not() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        let mut restore = RestoreFlags(Vec::new());
        let fd = OwnedFd::from(a);
        assert!(matches!(reactor_stream(fd.try_clone(), &mut restore, Direction::Write), Some(Stream::Socket(_))));
        let file = tempfile::tempfile().expect("file");
        assert!(reactor_stream(Ok(OwnedFd::from(file)), &mut restore, Direction::Read).is_none());
    }
}
