//! Checking a whole audit log (`proxmcp audit verify`): every line in
//! sequence, chained to the one before and carrying its keyed hash, and
//! the last one matching the head file.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{GENESIS, hash_of};

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every line chains up to the recorded head.
    Intact {
        /// Lines checked.
        lines: u64,
        /// The head the chain ends at.
        head: String,
    },
    /// The first broken line (1-based) and why.
    Broken {
        /// Line number (0: the file as a whole).
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Checks a whole audit log: its bytes, its key and, when known, the head
/// recorded beside it (`seq`, `hash`).
pub fn verify(bytes: &[u8], key: &[u8], head: Option<(u64, String)>) -> Verdict {
    let broken = |line: usize, reason: &str| Verdict::Broken { line, reason: reason.to_string() };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return broken(0, "is not UTF-8 text (a byte was changed)");
    };
    let mut prev = GENESIS.to_string();
    let mut seq = 0u64;
    let mut partial: Option<String> = None;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let n = i + 1;
        let ended = line.ends_with('\n');
        let line = line.trim_end_matches('\n');
        if line.trim().is_empty() {
            continue;
        }
        if let Err(e) = no_duplicate_keys(line) {
            if !ended || partial.is_some() {
                return broken(n, &format!("is not one JSON object ({e})"));
            }
            // Only a crash leaves a line that does not parse; the next line
            // must say so.
            partial = Some(hex::encode(Sha256::digest(line.as_bytes())));
            continue;
        }
        let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(line) else {
            return broken(n, "is not a JSON object");
        };
        if let Some(digest) = partial.take()
            && (obj.get("event").and_then(Value::as_str) != Some("partial_line_ended")
                || obj.get("partial_sha256").and_then(Value::as_str) != Some(digest.as_str()))
        {
            return broken(n - 1, "is not JSON and no recovery marker follows it (the line was damaged)");
        }
        if obj.get("seq").and_then(Value::as_u64) != Some(seq + 1) {
            return broken(n, "does not carry the next sequence number (a line was removed, inserted or reordered)");
        }
        let claimed_prev = obj.get("prev").and_then(Value::as_str).unwrap_or_default();
        if claimed_prev != prev {
            return broken(n, "does not follow the line before it (a line was removed, inserted or reordered)");
        }
        let claimed = match obj.remove("hash") {
            Some(Value::String(hash)) => hash,
            _ => String::new(),
        };
        if hash_of(key, &obj, &prev) != claimed {
            return broken(n, "does not match its keyed hash (the line was edited or forged)");
        }
        prev = claimed;
        seq += 1;
    }
    if partial.is_some() {
        return broken(0, "ends in a damaged line with no recovery marker");
    }
    match head {
        Some((head_seq, head_hash)) if head_seq != seq || head_hash != prev => Verdict::Broken {
            line: 0,
            reason: format!(
                "ends at line seq {seq}, but its head file says seq {head_seq}: lines were removed from the end or added after it"
            ),
        },
        None if seq == 0 => broken(0, "is empty and has no head file"),
        _ => Verdict::Intact { lines: seq, head: prev },
    }
}

/// Fails on a JSON text with a duplicate key in any object.
fn no_duplicate_keys(text: &str) -> Result<(), String> {
    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Checked;
    impl<'de> Deserialize<'de> for Checked {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(CheckedVisitor)
        }
    }
    struct CheckedVisitor;
    impl<'de> Visitor<'de> for CheckedVisitor {
        type Value = Checked;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_unit<E>(self) -> Result<Checked, E> {
            Ok(Checked)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
            while seq.next_element::<Checked>()?.is_some() {}
            Ok(Checked)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(k) = map.next_key::<String>()? {
                if !seen.insert(k.clone()) {
                    return Err(de::Error::custom(format!("duplicate key {k:?}")));
                }
                map.next_value::<Checked>()?;
            }
            Ok(Checked)
        }
    }
    serde_json::from_str::<Checked>(text).map(|_| ()).map_err(|e| e.to_string())
}
