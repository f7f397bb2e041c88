//! Migrations are embedded by `sqlx::migrate!`; rebuild when they change.
//!
//! The web UI's asset list is generated here: every file under `web/` (recursively, hidden files
//! left out) becomes an entry of `ASSETS` in `$OUT_DIR/web_assets.rs`, which `src/web.rs`
//! includes: its path under `web/` (`/` separators), its content type by extension, and its
//! bytes through `include_bytes!`. A new file in `web/` needs no Rust edit.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=../migrations");

    let web = manifest.join("..").join("web");
    println!("cargo:rerun-if-changed=../web");

    let mut files = Vec::new();
    walk(&web, &mut files);
    let mut entries: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|file| {
            let rel = file.strip_prefix(&web).expect("under web/");
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_str().expect("web/ file names are UTF-8"))
                .collect::<Vec<_>>()
                .join("/");
            (name, file)
        })
        .collect();
    entries.sort();

    let mut out = String::from(
        "/// (path under web/, content type, embedded bytes): every file of web/, listed by\n\
         /// build.rs.\n\
         const ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    for (name, file) in &entries {
        let path = fs::canonicalize(file).expect("canonical path of a web/ file");
        let path = path.to_str().expect("web/ paths are UTF-8");
        out.push_str(&format!(
            "    ({name:?}, {:?}, include_bytes!({path:?})),\n",
            content_type(name)
        ));
    }
    out.push_str("];\n");

    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("web_assets.rs");
    // Written only when it changes, so an unchanged list does not rebuild the crate.
    if fs::read_to_string(&dest).ok().as_deref() != Some(out.as_str()) {
        fs::write(&dest, out).expect("write web_assets.rs");
    }
}

/// The files under `dir`, recursively; names starting with `.` (editor and OS leftovers) are
/// skipped.
fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a web/ folder entry");
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().expect("a web/ file type");
        if kind.is_dir() {
            walk(&path, into);
        } else if kind.is_file() {
            into.push(path);
        }
    }
}

/// The content type a file is served with, by its extension.
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
