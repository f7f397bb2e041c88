//! `[ocr]`: how scanned PDF pages and images are read.

use serde::{Deserialize, Serialize};

/// `[ocr]`: Tesseract's languages for knowledge bases that name none, the resolution pages
/// are rendered at and one document's time budget.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OcrConfig {
    /// Tesseract language names (`eng`, `chi_sim`, …); empty turns OCR off by default.
    pub languages: Vec<String>,
    /// Resolution PDF pages are rendered at for OCR, in dots per inch.
    pub dpi: u32,
    /// Wall-clock budget of one document's OCR, in seconds.
    pub timeout_secs: u64,
}

impl Default for OcrConfig {
    fn default() -> Self {
        Self {
            languages: vec!["chi_sim".into(), "eng".into()],
            dpi: 200,
            timeout_secs: 600,
        }
    }
}

impl OcrConfig {
    pub fn validate(&self) -> Result<(), String> {
        languages(&self.languages)?;
        if !(72..=600).contains(&self.dpi) {
            return Err("ocr.dpi must be between 72 and 600".into());
        }
        if self.timeout_secs == 0 {
            return Err("ocr.timeout_secs must be at least 1".into());
        }
        Ok(())
    }

    /// The options of a knowledge base whose languages are `chosen` (as stored: `""` for
    /// these defaults, `"none"` for off, else names joined by `+`).
    pub fn options(&self, chosen: &str) -> ingest::parse::ocr::OcrOptions {
        let languages = match chosen {
            "" => self.languages.join("+"),
            "none" => String::new(),
            other => other.to_string(),
        };
        ingest::parse::ocr::OcrOptions {
            languages,
            dpi: self.dpi,
            timeout: std::time::Duration::from_secs(self.timeout_secs),
        }
    }
}

/// Tesseract language names checked and joined by `+` (`"none"` for an empty list: OCR
/// off). At most 8, each 2 to 32 lowercase letters, digits or `_`.
pub fn languages(names: &[String]) -> Result<String, String> {
    if names.len() > 8 {
        return Err("at most 8 ocr languages".into());
    }
    for name in names {
        let ok = (2..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(format!(
                "{name:?} is not a tesseract language name (like eng or chi_sim)"
            ));
        }
    }
    Ok(if names.is_empty() {
        "none".into()
    } else {
        names.join("+")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_checked_and_stored_joined() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            languages(&list(&["eng", "chi_sim"])).unwrap(),
            "eng+chi_sim"
        );
        assert_eq!(languages(&[]).unwrap(), "none");
        assert!(languages(&list(&["eng; rm -rf"])).is_err());
        assert!(languages(&list(&["-l"])).is_err());
        let config = OcrConfig::default();
        assert_eq!(config.options("").languages, "chi_sim+eng");
        assert_eq!(config.options("none").languages, "");
        assert!(!config.options("none").enabled());
        assert_eq!(config.options("chi_sim").languages, "chi_sim");
    }
}
