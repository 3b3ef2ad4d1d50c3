//! WASI preview 1 answered the way proxy-wasm-cpp-host does (`src/exports.cc` `wasi_unstable_*`):
//! stdout/stderr become info/error logs, clocks come from the host clock, no files, no arguments,
//! environment from the VM config (empty by default).

use super::memory::{read, set_u32, set_u64, write};
use super::state::{HostError, HostState};
use crate::abi::LogLevel;
use wasmtime::{Caller, Linker};

type C<'a> = Caller<'a, HostState>;

const ESUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const ENOENT: i32 = 44;
const ENOSYS: i32 = 52;
const ENOTSUP: i32 = 58;
const ENOTDIR: i32 = 20;
/// cpp-host `PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES`.
const RANDOM_MAX: u32 = 64 * 1024;

fn efault<T>(r: Result<T, HostError>) -> Result<T, i32> {
    r.map_err(|_| EFAULT)
}

/// `writevImpl`: fd 1 → info, fd 2 → error, one trailing newline dropped; other fds EBADF.
fn fd_write(c: &mut C<'_>, fd: i32, iovs: i32, n: i32, nwritten: i32) -> Result<(), i32> {
    let level = match fd {
        1 => LogLevel::Info,
        2 => LogLevel::Error,
        _ => return Err(EBADF),
    };
    let mut out = Vec::new();
    for i in 0..n {
        let iov = efault(read(c, iovs + i * 8, 8))?;
        let ptr = i32::from_le_bytes(iov[0..4].try_into().unwrap());
        let len = i32::from_le_bytes(iov[4..8].try_into().unwrap());
        if len != 0 {
            out.extend(efault(read(c, ptr, len))?);
        }
    }
    let written = out.len();
    if written != 0 {
        if out.last() == Some(&b'\n') {
            out.pop();
        }
        let h = c.data();
        h.env.log(
            &h.plugin.name,
            level,
            String::from_utf8_lossy(&out).into_owned(),
        );
    }
    efault(set_u32(c, nwritten, written as u32))
}

fn environ(c: &C<'_>) -> Vec<Vec<u8>> {
    c.data()
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}\0").into_bytes())
        .collect()
}

fn code(r: Result<(), i32>) -> wasmtime::Result<i32> {
    Ok(r.err().unwrap_or(ESUCCESS))
}

/// Defines the WASI functions under both `wasi_snapshot_preview1` and `wasi_unstable`.
pub(crate) fn register(linker: &mut Linker<HostState>) -> Result<(), String> {
    for m in ["wasi_snapshot_preview1", "wasi_unstable"] {
        let e = |e: wasmtime::Error| e.to_string();
        linker
            .func_wrap(
                m,
                "fd_write",
                |mut c: C<'_>, fd: i32, iovs: i32, n: i32, nw: i32| {
                    code(fd_write(&mut c, fd, iovs, n, nw))
                },
            )
            .map_err(e)?;
        linker
            .func_wrap(
                m,
                "fd_pwrite",
                |mut c: C<'_>, fd: i32, iovs: i32, n: i32, _off: i64, nw: i32| {
                    code(fd_write(&mut c, fd, iovs, n, nw))
                },
            )
            .map_err(e)?;
        linker
            .func_wrap(m, "fd_read", |_: C<'_>, _: i32, _: i32, _: i32, _: i32| {
                Ok(ENOSYS)
            })
            .map_err(e)?;
        linker
            .func_wrap(
                m,
                "fd_pread",
                |_: C<'_>, _: i32, _: i32, _: i32, _: i64, _: i32| Ok(ENOSYS),
            )
            .map_err(e)?;
        // cpp-host logs "wasi_unstable fd_seek"/"fd_close" through `context->error` and reports success.
        linker
            .func_wrap(m, "fd_seek", |c: C<'_>, _: i32, _: i64, _: i32, _: i32| {
                let h = c.data();
                h.env.log(
                    &h.plugin.name,
                    LogLevel::Trace,
                    "wasi_unstable fd_seek".into(),
                );
                Ok(ESUCCESS)
            })
            .map_err(e)?;
        linker
            .func_wrap(m, "fd_close", |c: C<'_>, _: i32| {
                let h = c.data();
                h.env.log(
                    &h.plugin.name,
                    LogLevel::Trace,
                    "wasi_unstable fd_close".into(),
                );
                Ok(ESUCCESS)
            })
            .map_err(e)?;
        linker
            .func_wrap(m, "fd_fdstat_get", |mut c: C<'_>, fd: i32, out: i32| {
                if fd != 1 && fd != 2 {
                    return Ok(EBADF);
                }
                // filetype 0, flags 0, rights_base = FD_WRITE (64), rights_inheriting 0.
                let mut stat = [0u8; 24];
                stat[8] = 64;
                code(efault(write(&mut c, out, &stat)))
            })
            .map_err(e)?;
        linker
            .func_wrap(m, "fd_fdstat_set_flags", |_: C<'_>, _: i32, _: i32| {
                Ok(ENOSYS)
            })
            .map_err(e)?;
        linker
            .func_wrap(m, "fd_prestat_get", |_: C<'_>, _: i32, _: i32| Ok(EBADF))
            .map_err(e)?;
        linker
            .func_wrap(
                m,
                "fd_prestat_dir_name",
                |_: C<'_>, _: i32, _: i32, _: i32| Ok(ENOSYS),
            )
            .map_err(e)?;
        linker
            .func_wrap(m, "fd_filestat_get", |_: C<'_>, _: i32, _: i32| Ok(EBADF))
            .map_err(e)?;
        linker
            .func_wrap(
                m,
                "fd_readdir",
                |mut c: C<'_>, _: i32, _: i32, _: i32, _: i64, n: i32| {
                    Ok(efault(set_u32(&mut c, n, 0)).err().unwrap_or(ENOTDIR))
                },
            )
            .map_err(e)?;
        linker
            .func_wrap(m, "fd_sync", |_: C<'_>, fd: i32| {
                Ok(if fd == 1 || fd == 2 { ESUCCESS } else { EBADF })
            })
            .map_err(e)?;
        linker
            .func_wrap(
                m,
                "path_open",
                |_: C<'_>,
                 _: i32,
                 _: i32,
                 _: i32,
                 _: i32,
                 _: i32,
                 _: i64,
                 _: i64,
                 _: i32,
                 _: i32| Ok(ENOENT),
            )
            .map_err(e)?;
        linker
            .func_wrap(
                m,
                "path_filestat_get",
                |_: C<'_>, _: i32, _: i32, _: i32, _: i32, _: i32| Ok(ENOTSUP),
            )
            .map_err(e)?;
        linker
            .func_wrap(
                m,
                "environ_sizes_get",
                |mut c: C<'_>, count: i32, size: i32| {
                    let env = environ(&c);
                    let total: usize = env.iter().map(Vec::len).sum();
                    code(
                        efault(set_u32(&mut c, count, env.len() as u32))
                            .and_then(|_| efault(set_u32(&mut c, size, total as u32))),
                    )
                },
            )
            .map_err(e)?;
        linker
            .func_wrap(
                m,
                "environ_get",
                |mut c: C<'_>, mut array: i32, mut buf: i32| {
                    for entry in environ(&c) {
                        if efault(set_u32(&mut c, array, buf as u32)).is_err()
                            || efault(write(&mut c, buf, &entry)).is_err()
                        {
                            return Ok(EFAULT);
                        }
                        buf += entry.len() as i32;
                        array += 4;
                    }
                    Ok(ESUCCESS)
                },
            )
            .map_err(e)?;
        linker
            .func_wrap(m, "args_sizes_get", |mut c: C<'_>, argc: i32, size: i32| {
                code(
                    efault(set_u32(&mut c, argc, 0)).and_then(|_| efault(set_u32(&mut c, size, 0))),
                )
            })
            .map_err(e)?;
        linker
            .func_wrap(m, "args_get", |_: C<'_>, _: i32, _: i32| Ok(ESUCCESS))
            .map_err(e)?;
        linker
            .func_wrap(
                m,
                "clock_time_get",
                |mut c: C<'_>, id: i32, _precision: i64, out: i32| {
                    let clock = c.data().env.clock.clone();
                    let t = match id {
                        0 => clock.realtime_ns(),
                        1 => clock.monotonic_ns(),
                        _ => return Ok(ENOTSUP),
                    };
                    code(efault(set_u64(&mut c, out, t)))
                },
            )
            .map_err(e)?;
        linker
            .func_wrap(m, "clock_res_get", |mut c: C<'_>, id: i32, out: i32| {
                if id != 0 && id != 1 {
                    return Ok(ENOTSUP);
                }
                code(efault(set_u64(&mut c, out, 1)))
            })
            .map_err(e)?;
        linker
            .func_wrap(m, "random_get", |mut c: C<'_>, buf: i32, len: i32| {
                if len as u32 > RANDOM_MAX {
                    return Ok(EINVAL);
                }
                if len == 0 {
                    return Ok(ESUCCESS);
                }
                let mut bytes = vec![0u8; len as u32 as usize];
                if getrandom::getrandom(&mut bytes).is_err() {
                    return Ok(EINVAL);
                }
                code(efault(write(&mut c, buf, &bytes)))
            })
            .map_err(e)?;
        linker
            .func_wrap(m, "sched_yield", |_: C<'_>| Ok(ESUCCESS))
            .map_err(e)?;
        linker
            .func_wrap(
                m,
                "poll_oneoff",
                |mut c: C<'_>, _: i32, _: i32, _: i32, n: i32| code(efault(set_u32(&mut c, n, 0))),
            )
            .map_err(e)?;
        // cpp-host only logs here; the guest then hits `unreachable`, failing the VM. Trapping
        // right away gives the same outcome with a clearer message.
        linker
            .func_wrap(
                m,
                "proc_exit",
                |_: C<'_>, code: i32| -> wasmtime::Result<()> {
                    Err(wasmtime::Error::msg(format!(
                        "wasi_unstable proc_exit({code})"
                    )))
                },
            )
            .map_err(e)?;
    }
    Ok(())
}
