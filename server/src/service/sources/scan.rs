//! Listing a folder and planning a run against what the source saw last.
//!
//! The listing keeps only metadata (relative path, size, mtime), so a folder of many
//! thousands of files costs a few hundred bytes each; contents are read one at a time later.
//! Hidden entries (names starting with `.`) are skipped and symlinks are not followed, so a
//! source cannot reach outside its folder.
//!
//! [`plan`] is pure: a file whose size and mtime match the last sync is unchanged without
//! being read; every other file is read and its content hash decides ([`classify`]).

use crate::store::Known;
use std::collections::HashMap;

/// A sidecar file: `report.pdf.meta.json` holds the metadata (a JSON object) of `report.pdf`
/// next to it. Sidecars are not documents themselves.
pub const SIDECAR: &str = ".meta.json";
/// The largest sidecar read.
const MAX_SIDECAR_BYTES: u64 = 64 * 1024;
use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Include and exclude globs, matched against the path relative to the folder (`/`
/// separators). No include globs means every file.
#[derive(Debug, Clone)]
pub struct Filters {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

fn glob_set(globs: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let glob = Glob::new(g.trim()).map_err(|e| format!("invalid glob {g:?}: {e}"))?;
        b.add(glob);
    }
    b.build().map_err(|e| format!("invalid globs: {e}"))
}

impl Filters {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, String> {
        Ok(Self {
            include: if include.is_empty() {
                None
            } else {
                Some(glob_set(include)?)
            },
            exclude: glob_set(exclude)?,
        })
    }

    pub fn accepts(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(rel)) && !self.exclude.is_match(rel)
    }
}

/// One file found by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative path with `/` separators (or the URL).
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
}

/// The files of a folder, and `(path, error)` for entries that could not be read.
pub type Listing = (Vec<Entry>, Vec<(String, String)>);

/// Lists `root` recursively. Unreadable entries become `(path, error)` pairs; more than
/// `max_files` accepted files is an error. Blocking.
pub fn list_folder(root: &Path, filters: &Filters, max_files: usize) -> Result<Listing, String> {
    let meta = std::fs::metadata(root)
        .map_err(|e| format!("cannot read folder {}: {e}", root.display()))?;
    if !meta.is_dir() {
        return Err(format!("not a folder: {}", root.display()));
    }
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for item in walker {
        let item = match item {
            Ok(item) => item,
            Err(e) => {
                let path = e
                    .path()
                    .and_then(|p| p.strip_prefix(root).ok())
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                errors.push((path, format!("cannot read: {e}")));
                continue;
            }
        };
        if !item.file_type().is_file() {
            continue;
        }
        let Ok(rel) = item.path().strip_prefix(root) else {
            continue;
        };
        let Some(rel) = rel.to_str().map(|s| s.replace('\\', "/")) else {
            errors.push((
                rel.to_string_lossy().into_owned(),
                "file name is not valid utf-8".into(),
            ));
            continue;
        };
        if rel.ends_with(SIDECAR) || !filters.accepts(&rel) {
            continue;
        }
        match item.metadata() {
            Ok(m) => {
                let mtime_ns = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
                    .unwrap_or(0);
                entries.push(Entry {
                    path: rel,
                    size: m.len(),
                    mtime_ns,
                });
                if entries.len() > max_files {
                    return Err(format!(
                        "the folder holds more than {max_files} files (sources.max_files)"
                    ));
                }
            }
            Err(e) => errors.push((rel, format!("cannot read: {e}"))),
        }
    }
    Ok((entries, errors))
}

/// The plan of a run before any file is read.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Files that look exactly as last time (size and mtime).
    pub unchanged: usize,
    /// Files of those that this very run already added or changed (a resumed run): not
    /// counted again as unchanged.
    pub already_done: usize,
    /// Files to read and hash: new ones, and known ones whose size or mtime moved.
    pub to_check: Vec<Entry>,
    /// Known paths the listing no longer has, with their hash.
    pub gone: Vec<(String, String)>,
}

/// Compares the listing with what the source saw last. `stat_trusted` is false for URL
/// lists, whose entries carry no size or mtime: every one is checked.
pub fn plan(
    listing: Vec<Entry>,
    known: &HashMap<String, Known>,
    run_id: i64,
    stat_trusted: bool,
) -> Plan {
    let mut plan = Plan::default();
    let mut seen = std::collections::HashSet::with_capacity(listing.len());
    for entry in listing {
        seen.insert(entry.path.clone());
        match known.get(&entry.path) {
            Some(k)
                if stat_trusted
                    && !k.hash.is_empty()
                    && k.document_id.is_some()
                    && k.size == entry.size as i64
                    && k.mtime_ns == entry.mtime_ns =>
            {
                if k.changed_run == Some(run_id) {
                    plan.already_done += 1;
                } else {
                    plan.unchanged += 1;
                }
            }
            _ => plan.to_check.push(entry),
        }
    }
    let mut gone: Vec<(String, String)> = known
        .iter()
        .filter(|(path, _)| !seen.contains(*path))
        .map(|(path, k)| (path.clone(), k.hash.clone()))
        .collect();
    gone.sort();
    plan.gone = gone;
    plan
}

/// What to do with a file that was read and hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Same content as recorded (only its mtime moved): record the new stat.
    Touch,
    /// Content differs from what this path had.
    Changed,
    /// A path the source has not seen, whose content a vanished path had: a rename.
    Renamed { from: String },
    /// A path the source has not seen.
    New,
}

/// Decides a checked file's fate from its new hash. `gone_by_hash` maps the hashes of
/// vanished paths to one of those paths; a rename consumes its entry.
pub fn classify(
    known: Option<&Known>,
    hash: &str,
    gone_by_hash: &mut HashMap<String, Vec<String>>,
) -> Action {
    match known {
        Some(k) if k.hash == hash && k.document_id.is_some() => Action::Touch,
        Some(_) => Action::Changed,
        None => match gone_by_hash.get_mut(hash).and_then(|paths| paths.pop()) {
            Some(from) => Action::Renamed { from },
            None => Action::New,
        },
    }
}

/// The sidecar files of a folder: (the path of the file each describes, its text or why it
/// cannot be read). Hidden entries are skipped, as in [`list_folder`].
pub fn list_sidecars(root: &Path) -> Vec<(String, Result<String, String>)> {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    let mut out = Vec::new();
    for item in walker.flatten() {
        if !item.file_type().is_file() {
            continue;
        }
        let Some(rel) = item
            .path()
            .strip_prefix(root)
            .ok()
            .and_then(|r| r.to_str())
            .map(|s| s.replace('\\', "/"))
        else {
            continue;
        };
        let Some(target) = rel.strip_suffix(SIDECAR) else {
            continue;
        };
        let text = match item.metadata() {
            Ok(m) if m.len() > MAX_SIDECAR_BYTES => Err(format!(
                "sidecar {rel} is larger than {MAX_SIDECAR_BYTES} bytes"
            )),
            _ => super::fetch::read_file(root, &rel, MAX_SIDECAR_BYTES)
                .and_then(|b| String::from_utf8(b).map_err(|_| "not utf-8".into()))
                .map_err(|e| format!("cannot read {rel}: {e}")),
        };
        out.push((target.to_string(), text));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Validators;

    fn entry(path: &str, size: u64, mtime: i64) -> Entry {
        Entry {
            path: path.into(),
            size,
            mtime_ns: mtime,
        }
    }

    fn known(size: i64, mtime: i64, hash: &str, run: Option<i64>) -> Known {
        Known {
            size,
            mtime_ns: mtime,
            hash: hash.into(),
            document_id: Some("d".into()),
            changed_run: run,
            validators: Validators::default(),
        }
    }

    #[test]
    fn globs_filter_relative_paths() {
        let f = Filters::new(&["**/*.md".into(), "*.txt".into()], &["drafts/**".into()]).unwrap();
        assert!(f.accepts("a.md"));
        assert!(f.accepts("x/y/b.md"));
        assert!(f.accepts("n.txt"));
        assert!(!f.accepts("drafts/c.md"));
        assert!(!f.accepts("d.pdf"));
        let all = Filters::new(&[], &[]).unwrap();
        assert!(all.accepts("anything/at/all.bin"));
        assert!(Filters::new(&["a/[".into()], &[]).is_err());
    }

    #[test]
    fn plan_trusts_stat_and_finds_gone_paths() {
        let mut k = HashMap::new();
        k.insert("same.md".to_string(), known(10, 1, "h1", Some(1)));
        k.insert("touched.md".to_string(), known(10, 1, "h2", Some(1)));
        k.insert("gone.md".to_string(), known(5, 1, "h3", Some(1)));
        k.insert("done-this-run.md".to_string(), known(7, 2, "h4", Some(9)));
        let listing = vec![
            entry("same.md", 10, 1),
            entry("touched.md", 10, 2),
            entry("new.md", 3, 1),
            entry("done-this-run.md", 7, 2),
        ];
        let p = plan(listing, &k, 9, true);
        assert_eq!(p.unchanged, 1);
        assert_eq!(p.already_done, 1);
        let checked: Vec<&str> = p.to_check.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(checked, vec!["touched.md", "new.md"]);
        assert_eq!(p.gone, vec![("gone.md".to_string(), "h3".to_string())]);
    }

    #[test]
    fn url_lists_are_always_checked() {
        let mut k = HashMap::new();
        k.insert("https://a/x".to_string(), known(0, 0, "h", Some(1)));
        let p = plan(vec![entry("https://a/x", 0, 0)], &k, 2, false);
        assert_eq!(p.to_check.len(), 1);
        assert_eq!(p.unchanged, 0);
    }

    #[test]
    fn classify_touch_change_rename_new() {
        let mut gone: HashMap<String, Vec<String>> = HashMap::new();
        gone.insert("h9".into(), vec!["old/name.md".into()]);
        let k = known(1, 1, "h1", None);
        assert_eq!(classify(Some(&k), "h1", &mut gone), Action::Touch);
        assert_eq!(classify(Some(&k), "h2", &mut gone), Action::Changed);
        assert_eq!(
            classify(None, "h9", &mut gone),
            Action::Renamed {
                from: "old/name.md".into()
            }
        );
        // The vanished path is used up: a second copy with that content is new.
        assert_eq!(classify(None, "h9", &mut gone), Action::New);
        assert_eq!(classify(None, "h5", &mut gone), Action::New);
    }

    #[test]
    fn listing_skips_hidden_and_symlinks_and_applies_globs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("a.md"), "a").unwrap();
        std::fs::write(root.join("sub/b.txt"), "bb").unwrap();
        std::fs::write(root.join(".git/config"), "x").unwrap();
        std::fs::write(root.join(".hidden.md"), "x").unwrap();
        std::fs::write(root.join("skip.log"), "x").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        let filters = Filters::new(&[], &["*.log".into()]).unwrap();
        let (entries, errors) = list_folder(root, &filters, 100).unwrap();
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["a.md", "sub/b.txt"]);
        assert_eq!(entries[1].size, 2);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(list_folder(root, &filters, 1).is_err(), "too many files");
        assert!(list_folder(&root.join("missing"), &filters, 1).is_err());
    }
}
