//! Guest memory access for host functions (cpp-host `WasmVm::getMemory`/`setWord` and
//! `WasmBase::copyToPointerSize`, which allocates with the guest's `malloc` /
//! `proxy_on_memory_allocate`).

use super::state::{HostError, HostResult, HostState};
use crate::abi::Status;
use wasmtime::Caller;

type C<'a> = Caller<'a, HostState>;

pub(crate) fn read(c: &C<'_>, ptr: i32, len: i32) -> HostResult<Vec<u8>> {
    let mem = c.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    let (p, l) = (ptr as u32 as usize, len as u32 as usize);
    mem.data(c)
        .get(p..p.checked_add(l).ok_or(Status::InvalidMemoryAccess)?)
        .map(<[u8]>::to_vec)
        .ok_or(HostError::Status(Status::InvalidMemoryAccess))
}

pub(crate) fn read_str(c: &C<'_>, ptr: i32, len: i32) -> HostResult<String> {
    Ok(String::from_utf8_lossy(&read(c, ptr, len)?).into_owned())
}

pub(crate) fn write(c: &mut C<'_>, ptr: i32, bytes: &[u8]) -> HostResult {
    let mem = c.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    mem.write(c, ptr as u32 as usize, bytes)
        .map_err(|_| HostError::Status(Status::InvalidMemoryAccess))
}

pub(crate) fn set_u32(c: &mut C<'_>, ptr: i32, v: u32) -> HostResult {
    write(c, ptr, &v.to_le_bytes())
}

pub(crate) fn set_u64(c: &mut C<'_>, ptr: i32, v: u64) -> HostResult {
    write(c, ptr, &v.to_le_bytes())
}

/// Allocates `bytes.len()` in the guest and copies `bytes` there; returns the guest pointer.
pub(crate) fn alloc_copy(c: &mut C<'_>, bytes: &[u8]) -> HostResult<i32> {
    let alloc = c.data().alloc.clone().ok_or(Status::InvalidMemoryAccess)?;
    let ptr = alloc.call(&mut *c, bytes.len() as i32)?;
    if ptr == 0 {
        return Err(Status::InvalidMemoryAccess.into());
    }
    write(c, ptr, bytes)?;
    Ok(ptr)
}

/// `copyToPointerSize`: empty values are returned as (0, 0) without allocating.
pub(crate) fn copy_out(c: &mut C<'_>, bytes: &[u8], ptr_ptr: i32, size_ptr: i32) -> HostResult {
    let ptr = if bytes.is_empty() {
        0
    } else {
        alloc_copy(c, bytes)?
    };
    set_u32(c, ptr_ptr, ptr as u32)?;
    set_u32(c, size_ptr, bytes.len() as u32)
}
