//! OCR: PDF pages without a usable text layer, and images (PNG, JPEG, TIFF, WebP), read by
//! Tesseract.
//!
//! Two command-line tools do the work, as child processes of the parser (so under its
//! address-space and CPU limits, which children inherit per process), one thread each and
//! at a lower CPU priority (`nice`) than searches: poppler's `pdftoppm` renders one PDF page
//! to a grayscale PNG, and `tesseract` answers the words of an image with their boxes (its
//! TSV output), which become the section's text and its [`TextBox`]es. The CLI rather than a
//! binding: nothing to link, and a crash or a runaway costs one child process.
//!
//! Missing tools are a clear error for the document that needed them, naming the packages.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use retrieval::Rect;

use super::child::Ended;
use super::{Section, TextBox};
use crate::error::{Error, Result};

/// What to install where OCR is missing.
pub const INSTALL: &str =
    "install poppler-utils and tesseract-ocr with its language data (Debian: apt install \
     poppler-utils tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim)";

/// How pages and images are recognised.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OcrOptions {
    /// Tesseract's languages, joined by `+` (`eng+chi_sim`); empty: OCR is off.
    pub languages: String,
    /// Resolution PDF pages are rendered at, in dots per inch.
    pub dpi: u32,
    /// Wall-clock budget of one document's OCR, over all its pages.
    pub timeout: Duration,
}

impl Default for OcrOptions {
    fn default() -> Self {
        Self {
            languages: "chi_sim+eng".into(),
            dpi: 200,
            timeout: Duration::from_secs(600),
        }
    }
}

impl OcrOptions {
    pub fn enabled(&self) -> bool {
        !self.languages.is_empty()
    }
}

/// Whether OCR can run here: `Ok` with the languages Tesseract has, or why not.
pub fn check() -> std::result::Result<Vec<String>, String> {
    let run = |tool: &str, arg: &str| {
        Command::new(tool)
            .arg(arg)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    if run("pdftoppm", "-v").is_none() && run("pdftoppm", "-h").is_none() {
        return Err(format!("pdftoppm is missing: {INSTALL}"));
    }
    let Some(list) = run("tesseract", "--list-langs") else {
        return Err(format!("tesseract is missing: {INSTALL}"));
    };
    Ok(String::from_utf8_lossy(&list.stdout)
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && l != "osd")
        .collect())
}

/// Recognises an image: one section on page 1, with the boxes of its words.
pub fn image(bytes: &[u8], options: &OcrOptions) -> Result<Section> {
    let deadline = Instant::now() + options.timeout;
    let dir = TempDir::new()?;
    let path = dir.0.join("image");
    std::fs::write(&path, bytes).map_err(|e| Error::Ocr(format!("cannot write the image: {e}")))?;
    let text = recognise(&path, options, deadline)?;
    Ok(section(1, &text))
}

/// Renders and recognises `pages` of a PDF: a section each for those with text. A page the
/// tools fail on is skipped (as the text layer skips a page it cannot read), unless no page
/// gives text: then the first failure is the error. Missing tools and the time budget stop
/// at once.
pub fn pdf_pages(bytes: &[u8], pages: &[u32], options: &OcrOptions) -> Result<Vec<Section>> {
    let started = Instant::now();
    let deadline = started + options.timeout;
    let dir = TempDir::new()?;
    let pdf = dir.0.join("document.pdf");
    std::fs::write(&pdf, bytes).map_err(|e| Error::Ocr(format!("cannot write the pdf: {e}")))?;
    let mut sections = Vec::new();
    let mut failed = None;
    for (done, &page) in pages.iter().enumerate() {
        if Instant::now() >= deadline {
            return Err(Error::Ocr(format!(
                "past its {} s budget (ocr.timeout_secs) after {done} of {} pages",
                options.timeout.as_secs(),
                pages.len()
            )));
        }
        let read = render(&pdf, page, options.dpi, true, None, &dir.0, deadline).and_then(|png| {
            let text = recognise(&png, options, deadline);
            let _ = std::fs::remove_file(&png);
            text
        });
        match read {
            Ok(text) => {
                let section = section(page, &text);
                if !section.text.is_empty() {
                    sections.push(section);
                }
            }
            Err(Error::Ocr(message)) if !message.contains("budget") => {
                tracing::warn!(page, error = %message, "ocr skipped a page");
                failed.get_or_insert(Error::Ocr(format!("page {page}: {message}")));
            }
            Err(e) => return Err(e),
        }
    }
    if sections.is_empty() {
        if let Some(failure) = failed {
            return Err(failure);
        }
    }
    tracing::debug!(
        pages = pages.len(),
        ms = started.elapsed().as_millis() as u64,
        "ocr done"
    );
    Ok(sections)
}

/// Address space of a page render outside the parser process.
const RENDER_MEMORY: u64 = 2 << 30;

/// One page of a PDF as a PNG at `dpi`, in colour, to be shown (a citation's page). Runs
/// outside the parser process, so `pdftoppm` gets limits of its own (`prlimit`: 2 GiB of
/// address space, the timeout in CPU seconds).
pub fn page_png(pdf: &[u8], page: u32, dpi: u32, timeout: Duration) -> Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let dir = TempDir::new()?;
    let path = dir.0.join("document.pdf");
    std::fs::write(&path, pdf).map_err(|e| Error::Ocr(format!("cannot write the pdf: {e}")))?;
    let limits = Some((RENDER_MEMORY, timeout.as_secs().max(1)));
    let png = render(&path, page, dpi, false, limits, &dir.0, deadline)?;
    std::fs::read(png).map_err(|e| Error::Ocr(format!("cannot read the page image: {e}")))
}

/// Renders one page to a PNG (grayscale with `gray`) in `dir`, under `limits` (address
/// space in bytes, CPU seconds) when given.
fn render(
    pdf: &Path,
    page: u32,
    dpi: u32,
    gray: bool,
    limits: Option<(u64, u64)>,
    dir: &Path,
    deadline: Instant,
) -> Result<PathBuf> {
    let root = dir.join(format!("page-{page}"));
    let mut command = match limits {
        Some((memory, cpu)) => {
            let mut command = low_priority("prlimit");
            command.args([
                format!("--as={memory}"),
                format!("--cpu={cpu}"),
                "pdftoppm".to_string(),
            ]);
            command
        }
        None => low_priority("pdftoppm"),
    };
    command.args(["-r", &dpi.to_string()]);
    if gray {
        command.arg("-gray");
    }
    command
        .args(["-png", "-singlefile"])
        .args(["-f", &page.to_string(), "-l", &page.to_string()])
        .arg(pdf)
        .arg(&root);
    run(command, "pdftoppm", deadline)?;
    let png = root.with_extension("png");
    if !png.exists() {
        return Err(Error::Ocr(format!("pdftoppm made no image of page {page}")));
    }
    Ok(png)
}

/// Tesseract's words of one image, as TSV.
fn recognise(image: &Path, options: &OcrOptions, deadline: Instant) -> Result<String> {
    let mut command = low_priority("tesseract");
    command
        .arg(image)
        .arg("stdout")
        .args(["-l", &options.languages, "tsv"]);
    let out = run(command, "tesseract", deadline)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `tool` under `nice`, on one thread.
fn low_priority(tool: &str) -> Command {
    let mut command = Command::new("nice");
    command
        .args(["-n", "10", tool])
        .env("OMP_THREAD_LIMIT", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs a tool to its end or the deadline; its stdout.
fn run(mut command: Command, tool: &str, deadline: Instant) -> Result<Vec<u8>> {
    let child = command
        .spawn()
        .map_err(|e| Error::OcrUnavailable(format!("cannot run {tool} ({e}): {INSTALL}")))?;
    let (status, out, err) = match super::child::wait(child, None, deadline) {
        Ok(Ended::Exited {
            status,
            stdout,
            stderr,
        }) => (status, stdout, stderr),
        Ok(Ended::TimedOut) => {
            return Err(Error::Ocr(format!("{tool} ran past the ocr time budget")))
        }
        Err(e) => return Err(Error::Ocr(format!("{tool}: {e}"))),
    };
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let first: String = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .chars()
            .take(200)
            .collect();
        if err.contains("Failed loading language") || err.contains("Error opening data file") {
            return Err(Error::OcrUnavailable(format!(
                "tesseract has no data for a language of this knowledge base: {INSTALL}"
            )));
        }
        return Err(Error::Ocr(format!("{tool} failed: {first}")));
    }
    Ok(out)
}

/// The section of page `page` from Tesseract's TSV: words joined by spaces (none between
/// CJK characters), lines by newlines, paragraphs and blocks by blank lines, each word
/// with its box as a fraction of the image.
pub fn section(page: u32, tsv: &str) -> Section {
    let mut size = (0f32, 0f32);
    let mut text = String::new();
    let mut boxes = Vec::new();
    let mut last: Option<(u32, u32, u32)> = None;
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 12 {
            continue;
        }
        let num = |i: usize| cols[i].trim().parse::<f32>().unwrap_or(0.0);
        let level = cols[0].trim();
        if level == "1" {
            size = (num(8), num(9));
            continue;
        }
        let word = cols[11].trim();
        if level != "5" || word.is_empty() || size.0 <= 0.0 || size.1 <= 0.0 {
            continue;
        }
        let at = (num(2) as u32, num(3) as u32, num(4) as u32);
        match last {
            Some(prev) if prev.0 != at.0 || prev.1 != at.1 => text.push_str("\n\n"),
            Some(prev) if prev.2 != at.2 => text.push('\n'),
            Some(_) => {
                let cjk_join = text.chars().next_back().is_some_and(is_cjk)
                    && word.chars().next().is_some_and(is_cjk);
                if !cjk_join {
                    text.push(' ');
                }
            }
            None => {}
        }
        last = Some(at);
        let start = text.len();
        text.push_str(word);
        let (left, top, width, height) = (num(6), num(7), num(8), num(9));
        boxes.push(TextBox {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(text.len()).unwrap_or(u32::MAX),
            rect: Rect {
                x0: left / size.0,
                y0: top / size.1,
                x1: (left + width) / size.0,
                y1: (top + height) / size.1,
            }
            .rounded(),
        });
    }
    Section {
        page: Some(page),
        text,
        boxes,
        ..Section::default()
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303f}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' | '\u{ff00}'..='\u{ffef}')
}

/// A folder of this process's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("ragd-ocr-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&path)
            .map_err(|e| Error::Ocr(format!("cannot make a temporary folder: {e}")))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_words_become_text_with_boxes() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
                   1\t1\t0\t0\t0\t0\t0\t0\t1000\t2000\t-1\t\n\
                   5\t1\t1\t1\t1\t1\t100\t200\t100\t40\t96\tHello\n\
                   5\t1\t1\t1\t1\t2\t250\t200\t150\t40\t95\tworld\n\
                   5\t1\t1\t1\t2\t1\t100\t260\t40\t40\t90\t大\n\
                   5\t1\t1\t1\t2\t2\t140\t260\t40\t40\t90\t模型\n\
                   5\t1\t2\t1\t1\t1\t100\t400\t80\t40\t90\tNext\n";
        let s = section(3, tsv);
        assert_eq!(s.page, Some(3));
        assert_eq!(s.text, "Hello world\n大模型\n\nNext");
        assert_eq!(s.boxes.len(), 5);
        let world = s.boxes[1];
        assert_eq!(&s.text[world.start as usize..world.end as usize], "world");
        assert_eq!(
            world.rect,
            Rect {
                x0: 0.25,
                y0: 0.1,
                x1: 0.4,
                y1: 0.12
            }
        );
        let model = s.boxes[3];
        assert_eq!(&s.text[model.start as usize..model.end as usize], "模型");
    }

    #[test]
    fn a_tsv_without_words_has_no_text() {
        let s = section(1, "level\tpage_num\n1\t1\t0\t0\t0\t0\t0\t0\t10\t10\t-1\t\n");
        assert!(s.text.is_empty() && s.boxes.is_empty());
    }

    fn limits() -> crate::ParseLimits {
        crate::ParseLimits::default()
    }

    /// A PDF whose second page is a scan: the text layer of page 1, OCR for page 2, with
    /// boxes that lie where the text was drawn.
    #[test]
    #[ignore = "needs pdftoppm, tesseract and hb-view (make test-deps installs them)"]
    fn ocr_reads_a_scanned_page_and_places_its_words() {
        assert!(e2e::ocr_tools(), "make test-deps installs the ocr tools");
        let source = "The harbour opens at dawn for fishing boats.\nShips leave the quay at nine.";
        let pdf = e2e::scanned_pdf(
            &["A page with a text layer, long enough to count.", source],
            &[2],
        );
        let doc = crate::parse::parse(&pdf, crate::Format::Pdf, &limits()).unwrap();
        assert_eq!(doc.sections.len(), 2, "{:?}", doc.sections);
        assert!(doc.sections[0].boxes.is_empty() || doc.sections[0].page == Some(1));
        let scan = &doc.sections[1];
        assert_eq!(scan.page, Some(2));
        let cer = e2e::char_error_rate(source, &scan.text);
        assert!(cer < 0.05, "cer {cer}: {:?}", scan.text);
        // make_pdf draws the first line at (50, 800) in 11-point Helvetica on a 595x842 page.
        let word = scan
            .boxes
            .iter()
            .find(|b| &scan.text[b.start as usize..b.end as usize] == "harbour")
            .expect("a box for harbour");
        let r = word.rect;
        assert!(r.x0 > 0.10 && r.x1 < 0.30, "{r:?}");
        let baseline = (842.0 - 800.0) / 842.0;
        assert!(r.y0 < baseline && r.y1 > baseline - 0.02, "{r:?}");
        // OCR off: the scanned page is missing, the rest is read.
        let off = crate::ParseLimits {
            ocr: OcrOptions {
                languages: String::new(),
                ..OcrOptions::default()
            },
            ..limits()
        };
        let doc = crate::parse::parse(&pdf, crate::Format::Pdf, &off).unwrap();
        assert_eq!(doc.sections.len(), 1);
        // OCR that cannot run (no data for the language) keeps the text layer's pages; a
        // document with nothing else fails with the reason.
        let unreadable = crate::ParseLimits {
            ocr: OcrOptions {
                languages: "xyz".into(),
                ..OcrOptions::default()
            },
            ..limits()
        };
        let doc = crate::parse::parse(&pdf, crate::Format::Pdf, &unreadable).unwrap();
        assert_eq!(doc.sections.len(), 1);
        let scan_only = e2e::scanned_pdf(&[source], &[1]);
        let err = crate::parse::parse(&scan_only, crate::Format::Pdf, &unreadable).unwrap_err();
        assert!(matches!(err, Error::OcrUnavailable(_)), "{err}");
    }

    /// A photo or scan of a page in each image format tesseract is given.
    #[test]
    #[ignore = "needs pdftoppm, tesseract and hb-view (make test-deps installs them)"]
    fn ocr_reads_png_jpeg_and_tiff_pages() {
        assert!(e2e::ocr_tools(), "make test-deps installs the ocr tools");
        let source = "Invoices are paid within thirty days of receipt.";
        for format in ["png", "jpeg", "tiff"] {
            let image = e2e::page_image(source, format);
            assert_eq!(
                crate::load::detect(&image, "scan").unwrap(),
                crate::Format::Image,
                "{format}"
            );
            let doc = crate::parse::parse(&image, crate::Format::Image, &limits()).unwrap();
            let cer = e2e::char_error_rate(source, &doc.sections[0].text);
            assert!(
                cer < 0.05,
                "{format}: cer {cer}: {:?}",
                doc.sections[0].text
            );
        }
    }

    #[test]
    #[ignore = "needs pdftoppm, tesseract and hb-view (make test-deps installs them)"]
    fn ocr_reads_chinese_from_an_image() {
        assert!(e2e::ocr_tools(), "make test-deps installs the ocr tools");
        let source = "大模型的资源占用可以用一个公式估算\n参数量乘以每个参数的字节数";
        let png = e2e::text_png(source, 40);
        assert_eq!(
            crate::load::detect(&png, "scan.png").unwrap(),
            crate::Format::Image
        );
        let doc = crate::parse::parse(&png, crate::Format::Image, &limits()).unwrap();
        assert_eq!(doc.pages, 1);
        let text = &doc.sections[0].text;
        let cer = e2e::char_error_rate(source, text);
        assert!(cer < 0.1, "cer {cer}: {text:?}");
        assert!(
            !text.contains("大 模"),
            "no spaces between chinese characters: {text:?}"
        );
        // A language without data is a clear error naming what to install.
        let missing = crate::ParseLimits {
            ocr: OcrOptions {
                languages: "xyz".into(),
                ..OcrOptions::default()
            },
            ..limits()
        };
        let err = crate::parse::parse(&png, crate::Format::Image, &missing).unwrap_err();
        assert!(matches!(err, Error::OcrUnavailable(_)), "{err}");
        assert!(err.to_string().contains("tesseract-ocr"), "{err}");
    }
}
