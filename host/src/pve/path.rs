//! Path segments: the only way a path reaches the Proxmox API.
//!
//! Plugins send a list of segments, never a URL. Each is checked and
//! percent-encoded here, so no value can add a query, a fragment, a
//! traversal or an extra path level.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::ApiError;

/// Everything but RFC 3986 unreserved characters is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Longest segment accepted; PVE's longest ids (volume ids, UPIDs) fit well.
const MAX_SEGMENT_LEN: usize = 512;
/// Most segments accepted; PVE's deepest paths have fewer than ten.
const MAX_SEGMENTS: usize = 16;

/// Checks `segments` and joins them into an encoded path starting with `/`.
pub fn encode_path<S: AsRef<str>>(segments: &[S]) -> Result<String, ApiError> {
    if segments.is_empty() {
        return Err(ApiError::InvalidRequest("the request path is empty; pass segments such as [\"nodes\"]".into()));
    }
    if segments.len() > MAX_SEGMENTS {
        return Err(ApiError::InvalidRequest(format!(
            "the request path has {} segments; at most {MAX_SEGMENTS} are allowed",
            segments.len()
        )));
    }
    let mut path = String::new();
    let volume_at = volume_slot(segments);
    for (i, seg) in segments.iter().enumerate() {
        let seg = seg.as_ref();
        let checked = if Some(i) == volume_at { check_volume_id(seg) } else { check_segment(seg) };
        checked.map_err(|why| ApiError::InvalidRequest(format!("path segment {i} ({}) {why}", printable(seg))))?;
        path.push('/');
        path.extend(utf8_percent_encode(seg, SEGMENT));
    }
    Ok(path)
}

/// Where a volume id sits in `/nodes/{node}/storage/{storage}/content/{volume}`:
/// the one place Proxmox takes a value with slashes (`local:iso/x.iso`) as
/// one path level. It is sent with its slashes encoded (`%2F`), so it stays
/// one level, and it is the last segment, so even a server that decoded it
/// could only reach deeper under `content/`.
fn volume_slot<S: AsRef<str>>(segments: &[S]) -> Option<usize> {
    let s: Vec<&str> = segments.iter().map(AsRef::as_ref).collect();
    matches!(s.as_slice(), ["nodes", _, "storage", _, "content", _]).then_some(5)
}

/// A volume id: the checks of any segment, but slashes are allowed between
/// non-empty parts that are not `.` or `..`.
fn check_volume_id(seg: &str) -> Result<(), &'static str> {
    for part in seg.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err("is not a volume id: its parts between slashes must be names, not empty, '.' or '..'");
        }
        check_segment(part)?;
    }
    if seg.len() > MAX_SEGMENT_LEN {
        return Err("is too long");
    }
    Ok(())
}

fn check_segment(seg: &str) -> Result<(), &'static str> {
    if seg.is_empty() {
        return Err("is empty");
    }
    if seg.len() > MAX_SEGMENT_LEN {
        return Err("is too long");
    }
    if seg == "." || seg == ".." {
        return Err("is a relative path element");
    }
    if seg.contains('/') || seg.contains('\\') {
        return Err("contains a slash; pass each path level as its own segment");
    }
    if seg.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    if seg.contains('?') || seg.contains('#') {
        return Err("contains '?' or '#'; pass parameters as params, not in the path");
    }
    let bytes = seg.as_bytes();
    if bytes.windows(3).any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit()) {
        return Err("contains a percent-encoded character; pass the plain value, the host encodes it");
    }
    Ok(())
}

/// A segment shown in an error: quoted, control characters escaped, cut short.
fn printable(seg: &str) -> String {
    let short: String = seg.chars().take(40).collect();
    format!("{short:?}")
}

/// The guarantee [`encode_path`] gives, checked for `segments`: it either
/// refuses them, or returns a path of exactly one level per segment, each
/// level decoding back to its segment, with nothing but unreserved ASCII
/// and `%XX` escapes in it (so no query, fragment, traversal or extra
/// level). Shared by the property tests and the `path_segments` fuzz target.
#[doc(hidden)]
pub fn check_encoding<S: AsRef<str>>(segments: &[S]) -> Result<(), String> {
    let Ok(path) = encode_path(segments) else {
        return Ok(());
    };
    let levels: Vec<&str> = path.strip_prefix('/').ok_or("the path does not start with /")?.split('/').collect();
    if levels.len() != segments.len() {
        return Err(format!("{} segments became {} levels: {path}", segments.len(), levels.len()));
    }
    for (level, seg) in levels.iter().zip(segments) {
        if !level.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)) {
            return Err(format!("level {level:?} has a character that is not encoded"));
        }
        if *level == "." || *level == ".." {
            return Err(format!("level {level:?} is a traversal"));
        }
        let decoded = percent_encoding::percent_decode_str(level).decode_utf8().map_err(|e| e.to_string())?;
        if decoded != seg.as_ref() {
            return Err(format!("level {level:?} decodes to {decoded:?}, not {:?}", seg.as_ref()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_segments_are_refused_or_encoded_one_level_each(segs in prop::collection::vec(any::<String>(), 1..6)) {
            prop_assert_eq!(check_encoding(&segs), Ok(()));
        }

        #[test]
        fn hostile_looking_segments_never_escape_their_level(
            segs in prop::collection::vec("[a-z0-9./%?#:=&\\ \\x00-\\x1f-]{0,12}", 1..6)
        ) {
            prop_assert_eq!(check_encoding(&segs), Ok(()));
            if let Ok(path) = encode_path(&segs) {
                prop_assert!(!path.contains('?') && !path.contains('#') && !path.contains("/../"));
            }
        }

        #[test]
        fn ordinary_ids_are_always_accepted(segs in prop::collection::vec("[A-Za-z0-9_:@!-][A-Za-z0-9_.:@!-]{0,30}", 1..8)) {
            prop_assume!(segs.iter().all(|s| s != "." && s != ".."));
            prop_assert!(encode_path(&segs).is_ok(), "{:?}", segs);
        }
    }

    #[test]
    fn plain_segments_join_unchanged() {
        assert_eq!(encode_path(&["nodes", "pve1", "qemu", "100"]).ok(), Some("/nodes/pve1/qemu/100".into()));
    }

    #[test]
    fn reserved_characters_are_encoded_not_interpreted() {
        let p = encode_path(&["nodes", "pve1", "tasks", "UPID:pve1:00001:abc:"]).unwrap_or_default();
        assert_eq!(p, "/nodes/pve1/tasks/UPID%3Apve1%3A00001%3Aabc%3A");
        let p = encode_path(&["local:iso/x y.iso"]);
        assert!(p.is_err(), "a slash inside a segment is refused");
        let p = encode_path(&["a b&c=d"]).unwrap_or_default();
        assert_eq!(p, "/a%20b%26c%3Dd");
    }

    #[test]
    fn traversal_slashes_and_control_characters_are_refused() {
        for bad in [
            &[""][..],
            &[".."],
            &["."],
            &["a/b"],
            &["a\\b"],
            &["a\nb"],
            &["\u{7f}"],
            &["%2e%2e"],
            &["a%2Fb"],
            &["v?x=1"],
            &["v#f"],
        ] {
            assert!(matches!(encode_path(bad), Err(ApiError::InvalidRequest(_))), "{bad:?}");
        }
        assert!(encode_path::<&str>(&[]).is_err());
        assert!(encode_path(&["a"; 17]).is_err());
    }

    #[test]
    fn a_volume_id_keeps_its_slashes_encoded_in_one_level_and_only_there() {
        let delete = ["nodes", "pve1", "storage", "local", "content", "local:iso/debian.iso"];
        assert_eq!(encode_path(&delete).unwrap(), "/nodes/pve1/storage/local/content/local%3Aiso%2Fdebian.iso");
        assert!(check_encoding(&delete).is_ok());
        for bad in ["local:iso/../../../access", "local:iso//x", "local:iso/./x", "local:iso/x%2Fy", "/x"] {
            let segs = ["nodes", "pve1", "storage", "local", "content", bad];
            assert!(encode_path(&segs).is_err(), "{bad}");
        }
        // Anywhere else a slash is still refused.
        assert!(encode_path(&["nodes", "pve1", "qemu/100", "status", "stop"]).is_err());
        assert!(encode_path(&["nodes", "pve1", "storage", "local", "content", "a/b", "x"]).is_err());
    }
}
