//! Fuzzes the path-segment validator: arbitrary bytes, split at NUL into
//! segments, must be refused or encoded one level per segment, each level
//! decoding back to its segment (`proxmcp::pve::path::check_encoding`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let segments: Vec<&str> = text.split('\0').collect();
    if let Err(why) = proxmcp::pve::path::check_encoding(&segments) {
        panic!("{why}: {segments:?}");
    }
});
