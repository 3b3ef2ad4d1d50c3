//! Guest memory handed to the host through `proxy_on_memory_allocate`.
//!
//! Every allocation is recorded with its capacity, so that taking the bytes back never rebuilds a
//! `Vec` with a capacity the allocator did not hand out (undefined behaviour), whatever size the
//! host reports. Allocations the host never returned are freed after the host call.

use std::cell::RefCell;

thread_local! {
    static LIVE: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

/// Allocates `size` bytes for the host. Returns null on failure, as the spec asks.
pub fn allocate(size: usize) -> *mut u8 {
    // Zero-size requests still get a real, unique pointer: null means failure to the host.
    let capacity = size.max(1);
    let mut buf: Vec<u8> = Vec::new();
    if buf.try_reserve_exact(capacity).is_err() {
        return std::ptr::null_mut();
    }
    let capacity = buf.capacity();
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    LIVE.with(|live| live.borrow_mut().push((ptr as usize, capacity)));
    ptr
}

/// Takes ownership of `len` bytes the host wrote at address `addr`. `None` if the address is not
/// one of our live allocations or `len` exceeds it. Taking an address, not a pointer, makes clear
/// that only pointers from our own table are ever dereferenced.
pub fn take(addr: usize, len: usize) -> Option<Vec<u8>> {
    if addr == 0 {
        return if len == 0 { Some(Vec::new()) } else { None };
    }
    let (ptr, capacity) = LIVE.with(|live| {
        let mut live = live.borrow_mut();
        let index = live.iter().position(|(p, _)| *p == addr)?;
        Some(live.swap_remove(index))
    })?;
    // SAFETY: `ptr` came from `allocate` with exactly `capacity` and was not yet taken.
    let mut bytes = unsafe { Vec::from_raw_parts(ptr as *mut u8, 0, capacity) };
    if len > capacity {
        return None;
    }
    // SAFETY: the host wrote `len` bytes into our allocation and `len <= capacity`.
    unsafe { bytes.set_len(len) };
    Some(bytes)
}

/// Frees allocations the host made but never handed back (e.g. it failed after allocating).
pub fn reclaim() {
    let leftovers = LIVE.with(|live| std::mem::take(&mut *live.borrow_mut()));
    for (ptr, capacity) in leftovers {
        // SAFETY: each entry is a live allocation from `allocate` with this capacity.
        drop(unsafe { Vec::from_raw_parts(ptr as *mut u8, 0, capacity) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_and_take_round_trip() {
        let p = allocate(5);
        assert!(!p.is_null());
        unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), p, 5) };
        assert_eq!(take(p as usize, 5).unwrap(), b"hello");
        // A second take of the same pointer is refused, not a double free.
        assert!(take(p as usize, 5).is_none());
    }

    #[test]
    fn take_rejects_foreign_pointers_and_oversize() {
        let mut local = [0u8; 4];
        assert!(take(local.as_mut_ptr() as usize, 4).is_none());
        let p = allocate(2);
        assert!(take(p as usize, 1000).is_none());
        assert_eq!(take(0, 0).unwrap(), Vec::<u8>::new());
        assert!(take(0, 3).is_none());
    }

    #[test]
    fn zero_size_allocation_is_not_null_and_reclaim_frees() {
        let p = allocate(0);
        assert!(!p.is_null());
        reclaim();
        assert!(take(p as usize, 0).is_none());
    }
}
