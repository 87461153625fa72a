//! Size budgets a reader can rely on: no source file of the host, the SDK
//! or a built-in plugin grows past about 600 lines.

use crate::support;

/// Largest source file, in lines.
const MAX_LINES: usize = 620;

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_of_the_host_the_sdk_or_a_plugin_is_over_600_lines() {
    let root = support::root();
    let mut files = Vec::new();
    rust_files(&root.join("host/src"), &mut files);
    rust_files(&root.join("plugins"), &mut files);
    rust_files(&root.join("sdk/src"), &mut files);
    assert!(files.len() > 50, "found only {} files", files.len());
    let mut over = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        if lines > MAX_LINES {
            over.push(format!("{rel}: {lines} lines"));
        }
    }
    assert!(over.is_empty(), "split these files by job:\n{}", over.join("\n"));
}
