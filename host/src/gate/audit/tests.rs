use std::os::unix::fs::PermissionsExt;

use super::*;

fn record(tool: &str) -> Record {
    Record {
        time: now_rfc3339(),
        principal: "local".into(),
        role: "admin".into(),
        plugin: "inventory".into(),
        tool: tool.into(),
        target: None,
        arguments: json!({"vmid": 100}),
        outcome: Outcome::Ok,
        approved_by: None,
        duration_ms: 3,
        requests: vec![RequestRecord { method: "GET".into(), path: "/version".into(), status: 200, ms: 1 }],
    }
}

struct Written {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Written {
    fn new(n: usize) -> Written {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(Some(&path), None, None).unwrap();
        for i in 0..n {
            log.write(&record(&format!("tool_{i}"))).unwrap();
        }
        Written { _dir: dir, path }
    }

    fn key(&self) -> Vec<u8> {
        load_or_create_key(&default_key_file(&self.path)).unwrap()
    }

    fn head(&self) -> Option<(u64, String)> {
        let v: Value = serde_json::from_slice(&std::fs::read(head_file(&self.path)).ok()?).ok()?;
        Some((v["seq"].as_u64()?, v["hash"].as_str()?.to_string()))
    }

    fn verify(&self, bytes: &[u8]) -> Verdict {
        verify(bytes, &self.key(), self.head())
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap()
    }
}

fn broken_at(v: &Verdict) -> Option<usize> {
    match v {
        Verdict::Broken { line, .. } => Some(*line),
        Verdict::Intact { .. } => None,
    }
}

#[test]
fn an_untouched_log_verifies_and_reopening_continues_the_chain() {
    let w = Written::new(3);
    let again = AuditLog::open(Some(&w.path), None, None).unwrap();
    again.write(&record("tool_3")).unwrap();
    match w.verify(&w.bytes()) {
        Verdict::Intact { lines, head } => {
            assert_eq!(lines, 4);
            assert_eq!(Some((4, head)), w.head());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn audit_verify_detects_edited_removed_and_reordered_lines() {
    let w = Written::new(4);
    let text = String::from_utf8(w.bytes()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(broken_at(&w.verify(text.replacen("tool_2", "tool_X", 1).as_bytes())), Some(3));
    assert_eq!(broken_at(&w.verify(format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3]).as_bytes())), Some(2));
    assert_eq!(
        broken_at(&w.verify(format!("{}\n{}\n{}\n{}\n", lines[0], lines[2], lines[1], lines[3]).as_bytes())),
        Some(2)
    );
}

#[test]
fn audit_verify_detects_a_removed_last_line_and_an_emptied_file() {
    let w = Written::new(3);
    let text = String::from_utf8(w.bytes()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = format!("{}\n{}\n", lines[0], lines[1]);
    assert!(
        matches!(w.verify(cut.as_bytes()), Verdict::Broken { line: 0, ref reason } if reason.contains("removed from the end"))
    );
    assert!(broken_at(&w.verify(b"")).is_some());
    assert!(broken_at(&verify(b"", &w.key(), None)).is_some(), "an empty log without a head is not intact");
}

#[test]
fn audit_verify_detects_an_appended_line_with_a_recomputed_unkeyed_hash() {
    let w = Written::new(2);
    let text = String::from_utf8(w.bytes()).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    // What an attacker without the key can do: chain with plain SHA-256.
    let mut forged = serde_json::to_value(record("forged")).unwrap().as_object().unwrap().clone();
    forged.insert("seq".into(), json!(3));
    forged.insert("prev".into(), last["hash"].clone());
    let mut h = Sha256::new();
    h.update(last["hash"].as_str().unwrap().as_bytes());
    h.update(Value::Object(forged.clone()).to_string().as_bytes());
    forged.insert("hash".into(), json!(hex::encode(h.finalize())));
    let appended = format!("{text}{}\n", Value::Object(forged));
    assert_eq!(broken_at(&verify(appended.as_bytes(), &w.key(), None)), Some(3));
    // A whole history rewritten with another key fails under the real one.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.jsonl");
    let log = AuditLog::open(Some(&other), None, None).unwrap();
    log.write(&record("tool_0")).unwrap();
    assert_eq!(broken_at(&verify(&std::fs::read(&other).unwrap(), &w.key(), None)), Some(1));
}

#[test]
fn audit_verify_rejects_duplicate_keys() {
    let w = Written::new(1);
    let text = String::from_utf8(w.bytes()).unwrap();
    let dup = text.replacen("{\"approved_by\"", "{\"tool\":\"x\",\"approved_by\"", 1).replacen(
        '{',
        "{\"tool\":\"shadow\",",
        1,
    );
    assert!(broken_at(&w.verify(dup.as_bytes())).is_some());
}

#[test]
fn a_crash_mid_line_is_ended_with_a_marker_and_the_chain_goes_on() {
    let w = Written::new(2);
    let mut f = std::fs::OpenOptions::new().append(true).open(&w.path).unwrap();
    f.write_all(b"{\"time\":\"2026-").unwrap();
    drop(f);
    let log = AuditLog::open(Some(&w.path), None, None).unwrap();
    log.write(&record("after")).unwrap();
    drop(log);
    let text = String::from_utf8(w.bytes()).unwrap();
    assert!(text.contains("partial_line_ended"), "{text}");
    assert!(matches!(w.verify(text.as_bytes()), Verdict::Intact { lines: 4, .. }), "{:?}", w.verify(text.as_bytes()));
}

#[test]
fn an_audit_file_with_a_bad_byte_starts_a_new_segment() {
    let w = Written::new(2);
    let mut bytes = w.bytes();
    bytes[5] = 0xff;
    std::fs::write(&w.path, &bytes).unwrap();
    let log = AuditLog::open(Some(&w.path), None, None).unwrap();
    log.write(&record("after")).unwrap();
    let text = String::from_utf8(w.bytes()).unwrap();
    assert!(text.lines().next().unwrap().contains("segment_start"), "{text}");
    let aside = std::fs::read_dir(w.path.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains("damaged"));
    assert!(aside, "the damaged file is kept beside the log");
    assert!(matches!(w.verify(text.as_bytes()), Verdict::Intact { lines: 2, .. }));
}

#[test]
fn opening_a_long_log_reads_only_its_tail() {
    let w = Written::new(1);
    // 100 KiB of damage far from the end: opening continues the chain from
    // the last line (verify, which reads everything, reports the damage).
    let mut bytes = vec![0xff; 100 << 10];
    bytes.push(b'\n');
    bytes.extend(w.bytes());
    std::fs::write(&w.path, &bytes).unwrap();
    let log = AuditLog::open(Some(&w.path), None, None).unwrap();
    log.write(&record("after")).unwrap();
    let text = String::from_utf8_lossy(&w.bytes()).into_owned();
    assert!(!text.contains("segment_start"), "the tail was intact, so no new segment");
    assert_eq!(w.head().unwrap().0, 2, "the chain went on from seq 1");
    assert!(broken_at(&w.verify(&w.bytes())).is_some());
}

#[test]
fn the_audit_file_and_its_key_are_private() {
    let w = Written::new(1);
    for p in [w.path.clone(), default_key_file(&w.path), head_file(&w.path)] {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
}

#[test]
fn secrets_and_exec_input_are_redacted_and_big_arguments_capped() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(Some(&dir.path().join("a.jsonl")), None, None).unwrap();
    let args = json!({"vmid": 1, "password": "p", "nested": {"api_token": "t"}, "cipassword": "c", "input": "secret stdin", "command": ["ls"]});
    let out = log.redact(&args);
    assert_eq!(
        out,
        json!({"vmid": 1, "password": "[redacted]", "nested": {"api_token": "[redacted]"}, "cipassword": "[redacted]", "input": "[redacted]", "command": ["ls"]})
    );
    let configured = AuditLog::open(Some(&dir.path().join("b.jsonl")), Some(vec!["command".into()]), None).unwrap();
    assert_eq!(configured.redact(&args)["command"], "[redacted]");
    assert_eq!(configured.redact(&args)["input"], "secret stdin");
    let big = json!({"blob": "x".repeat(3 << 20)});
    let capped = cap(big);
    assert_eq!(capped["truncated"], true);
    assert!(capped.to_string().len() < 300);
}

#[test]
fn argument_size_is_counted_as_written() {
    for v in
        [json!({}), json!({"vmid": 100, "note": "a \"quoted\"\nline", "name": "größe ✓"}), json!([1.5, null, true])]
    {
        assert_eq!(json_len(&v), v.to_string().len(), "{v}");
    }
    let at_cap = json!({"k": "x".repeat(MAX_ARGUMENT_BYTES - 8)});
    assert_eq!(at_cap.to_string().len(), MAX_ARGUMENT_BYTES);
    assert_eq!(cap(at_cap.clone()), at_cap);
    let over = json!({"k": "x".repeat(MAX_ARGUMENT_BYTES - 7)});
    assert_eq!(cap(over)["truncated"], true);
}

#[test]
fn a_line_carries_its_hash_last_and_verifies() {
    let w = Written::new(1);
    let bytes = w.bytes();
    let line = std::str::from_utf8(&bytes).unwrap().trim_end();
    let (body, hash) = line.rsplit_once(",\"hash\":\"").unwrap();
    assert_eq!(hash.len(), 64 + 2, "{line}");
    let hashed = format!("{body}}}");
    let reparsed: Value = serde_json::from_str(&hashed).unwrap();
    assert_eq!(serde_json::to_string(&reparsed).unwrap(), hashed, "the hashed text is canonical");
    assert!(matches!(w.verify(&bytes), Verdict::Intact { lines: 1, .. }));
}

#[test]
fn a_line_with_every_member_is_written_in_canonical_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(Some(&path), None, None).unwrap();
    let mut r = record("pve_start_vm");
    r.target = Some("lab".into());
    r.approved_by = Some("confirm argument".into());
    r.arguments = json!({"vmid": 100, "confirm": true, "nested": {"z": 1, "a": [{"y": 2, "b": 3}]}});
    r.requests.push(RequestRecord {
        method: "POST".into(),
        path: "/nodes/pve1/qemu/100/status/start".into(),
        status: 200,
        ms: 7,
    });
    log.write(&r).unwrap();
    drop(log);
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().find(|l| l.contains("pve_start_vm")).unwrap();
    let (body, _) = line.rsplit_once(",\"hash\":\"").unwrap();
    let hashed = format!("{body}}}");
    let reparsed: Value = serde_json::from_str(&hashed).unwrap();
    assert_eq!(serde_json::to_string(&reparsed).unwrap(), hashed, "the hashed text is canonical");
    assert_eq!(reparsed["target"], "lab");
    assert_eq!(reparsed["requests"][1]["ms"], 7);
    let key = load_or_create_key(&default_key_file(&path)).unwrap();
    assert!(matches!(verify(text.as_bytes(), &key, None), Verdict::Intact { .. }));
}

#[test]
fn the_head_record_is_canonical_json_of_a_fixed_size() {
    let hash = "ab".repeat(32);
    for seq in [1, 4_294_967_296, u64::MAX] {
        let record = head_record(seq, &hash);
        assert_eq!(record.len(), HEAD_BYTES, "{record:?}");
        assert!(record.ends_with('\n'));
        let expected = json!({"seq": seq, "hash": hash}).to_string();
        assert_eq!(record.trim_end(), expected, "the same text the JSON map gave");
    }
}
