//! Log output that cannot be forged: values echoed from Proxmox or from
//! clients may hold newlines or terminal escapes, so every control
//! character of a log record is escaped before it reaches stderr, leaving
//! one record per line.

use std::io::Write;

/// Escapes control characters in `record`, keeping one final newline.
pub fn escape_record(record: &[u8]) -> Vec<u8> {
    let (body, newline) = match record.strip_suffix(b"\n") {
        Some(body) => (body, true),
        None => (record, false),
    };
    let mut out = Vec::with_capacity(record.len() + 8);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.push(b'\t'),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            _ => out.push(b),
        }
    }
    if newline {
        out.push(b'\n');
    }
    out
}

/// A writer that escapes each record it is given (tracing's formatter
/// writes one whole record per call).
#[derive(Debug)]
pub struct Escaping<W: Write>(pub W);

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(&escape_record(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Makes an escaping stderr writer per record.
pub fn stderr() -> Escaping<std::io::Stderr> {
    Escaping(std::io::stderr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_log_record_stays_on_its_own_line() {
        let record = b"WARN proxmox said: bad\n2026-01-01T00:00:00Z INFO forged \x1b[2Jrecord\r\n";
        let escaped = String::from_utf8(escape_record(record)).unwrap();
        assert_eq!(escaped.matches('\n').count(), 1, "{escaped}");
        assert!(escaped.ends_with("record\\r\n"), "{escaped}");
        assert!(escaped.contains("bad\\n2026") && escaped.contains("\\x1b[2J"), "{escaped}");
        let mut w = Escaping(Vec::new());
        w.write_all(b"plain\ttext\n").unwrap();
        assert_eq!(w.0, b"plain\ttext\n");
    }
}
