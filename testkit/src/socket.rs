//! Socket options the tests and tools set.

use std::os::fd::{AsFd, AsRawFd};

/// Asks for a receive buffer of `bytes` on `socket` (forced past
/// `net.core.rmem_max` where the process may, as root; else capped by it) and
/// returns the size the kernel reports then (Linux doubles what it grants).
pub fn set_receive_buffer(socket: &impl AsFd, bytes: usize) -> usize {
    let fd = socket.as_fd().as_raw_fd();
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    #[cfg(target_os = "linux")]
    let options = [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF];
    #[cfg(not(target_os = "linux"))]
    let options = [libc::SO_RCVBUF];
    for option in options {
        // SAFETY: setsockopt reads one c_int from a valid pointer of the size
        // given; the descriptor is open (borrowed for the call).
        let result = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result == 0 {
            break;
        }
    }
    let mut actual: libc::c_int = 0;
    let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `length` bytes into `actual`, a live
    // c_int; the descriptor is open.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut actual as *mut libc::c_int).cast(),
            &mut length,
        )
    };
    if result == 0 {
        usize::try_from(actual).unwrap_or(0)
    } else {
        0
    }
}
