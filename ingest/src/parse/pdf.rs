//! PDF: the text layer of each page through lopdf, with its page number.
//!
//! Hostile files must end in text or a typed error within a time and memory budget, never take
//! the process down. Before lopdf loads a file, the objects it would build are counted (lopdf
//! spends about 120 bytes on each, so a file of numbers grows sixtyfold), and so are those of
//! each object stream before lopdf unpacks it; streams decompress within limits; page content
//! is read one token at a time ([`content`]) instead of through lopdf's `Content::decode`,
//! which grows the same way; fonts are decoded once per document; and the whole parse has
//! budgets of decompressed bytes, text and time ([`Limits`]).
//!
//! The parser runs on its own thread with a large stack, panics are caught, and a parse that
//! outlives its time budget is abandoned; it stops by itself at its next look at the clock.

mod cmap;
mod content;
mod font;
mod layout;
mod lex;
mod table;

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lopdf::xref::XrefRecovery;
use lopdf::{dictionary, DecompressError, Dictionary, Document, LoadOptions, Object, ObjectId};

use super::{ParsedDocument, Section, TextBox};
use crate::error::{Error, Result};
use crate::load::Format;

const MIB: usize = 1024 * 1024;

/// Stack of the parser thread: lopdf recurses into nested objects.
const PARSER_STACK: usize = 256 * MIB;

/// Budgets of one parse.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Objects lopdf may build while loading: those of the file and of its object streams.
    objects: usize,
    /// Decompressed size of one object or cross-reference stream while loading.
    load_stream: usize,
    /// Decompressed content of one page; a page over it is skipped.
    page_content: usize,
    /// Decompressed content of all pages together.
    content: usize,
    /// Decompressed ToUnicode CMap of one font, and of all fonts together.
    font_cmap: usize,
    font_cmaps: usize,
    /// Codes mapped by the ToUnicode CMap of one font, and by those of the fonts decoded and
    /// kept at once (lopdf spends up to about 100 bytes on each).
    font_codes: u64,
    kept_codes: u64,
    /// Extracted text, in bytes.
    text: usize,
    /// Text boxes of the whole document; past them a page's words share boxes.
    boxes: usize,
}

impl Limits {
    /// Enough for any sensible document; together they keep a parse near a gigabyte of memory
    /// at most (the file's objects about 500 MB, fonts about 200 MB, a page's content, the
    /// text), and a parse that meets one ends with [`Error::PdfLimit`].
    const DEFAULT: Limits = Limits {
        objects: 4_000_000,
        load_stream: 64 * MIB,
        page_content: 64 * MIB,
        content: 512 * MIB,
        font_cmap: 8 * MIB,
        font_cmaps: 32 * MIB,
        font_codes: 1 << 20,
        kept_codes: 2 << 20,
        text: 128 * MIB,
        boxes: 4_000_000,
    };
}

/// When a parse has to stop.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Option<Instant>,
    secs: u64,
}

impl Deadline {
    #[cfg(test)]
    const NONE: Deadline = Deadline { at: None, secs: 0 };

    fn after(timeout: Duration) -> Self {
        Self {
            at: Instant::now().checked_add(timeout),
            secs: timeout.as_secs(),
        }
    }

    fn check(&self) -> Result<()> {
        match self.at {
            Some(at) if Instant::now() >= at => Err(Error::Timeout(self.secs)),
            _ => Ok(()),
        }
    }
}

/// A page with fewer letters and digits than this has no usable text layer (a scan, a
/// photo, a slide exported as an image), and is one for OCR.
pub const MIN_PAGE_CHARS: usize = 16;

/// The text layer of a PDF.
#[derive(Debug, Clone, PartialEq)]
pub struct PdfText {
    /// The pages with text, a section each (with the text of pages under
    /// [`MIN_PAGE_CHARS`]).
    pub sections: Vec<Section>,
    /// Pages in the document.
    pub pages: u32,
    /// Pages, from 1, whose text is under [`MIN_PAGE_CHARS`].
    pub without_text: Vec<u32>,
}

impl PdfText {
    /// The document, or [`Error::PdfNoText`] when no page has text.
    pub fn into_document(self) -> Result<ParsedDocument> {
        if self.sections.is_empty() {
            return Err(Error::PdfNoText);
        }
        Ok(ParsedDocument {
            format: Format::Pdf,
            sections: self.sections,
            pages: self.pages,
        })
    }
}

/// Whether a page's text is a usable text layer.
pub fn usable(text: &str) -> bool {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .take(MIN_PAGE_CHARS)
        .count()
        >= MIN_PAGE_CHARS
}

/// Parses on a helper thread and gives up after `timeout`.
pub fn parse_with_timeout(bytes: Vec<u8>, timeout: Duration) -> Result<PdfText> {
    let deadline = Deadline::after(timeout);
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("pdf-parse".into())
        .stack_size(PARSER_STACK)
        .spawn(move || {
            let result =
                std::panic::catch_unwind(|| parse_within(&bytes, Limits::DEFAULT, deadline));
            let _ = tx.send(result);
        })
        .map_err(|e| Error::PdfMalformed(format!("cannot start parser: {e}")))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(result)) => result,
        Ok(Err(_panic)) => Err(Error::PdfMalformed(
            "the parser gave up on this file".into(),
        )),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout.as_secs())),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::PdfMalformed(
            "the parser stopped unexpectedly".into(),
        )),
    }
}

/// Parses a PDF in the calling thread, with no time limit (for tests: the service parses
/// with [`parse_with_timeout`]).
#[cfg(test)]
pub fn parse(bytes: &[u8]) -> Result<ParsedDocument> {
    parse_within(bytes, Limits::DEFAULT, Deadline::NONE)?.into_document()
}

fn parse_within(bytes: &[u8], limits: Limits, deadline: Deadline) -> Result<PdfText> {
    let doc = load(bytes, limits, deadline)?;
    if doc.is_encrypted() {
        return Err(Error::PdfEncrypted);
    }
    deadline.check()?;
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(Error::PdfMalformed("no pages".into()));
    }
    let mut reader = PageReader::new(&doc, limits, deadline);
    let mut sections = Vec::new();
    let mut first_failure = None;
    let mut any_read = false;
    let mut without_text = Vec::new();
    for (&number, &page_id) in &pages {
        deadline.check()?;
        // A page that cannot be read is skipped, not fatal: the rest still counts.
        let page_sections = match reader.page_text(number, page_id)? {
            Ok(page) => page,
            Err(failure) => {
                first_failure.get_or_insert(failure);
                continue;
            }
        };
        any_read = true;
        let text: String = page_sections.iter().map(|s| s.text.as_str()).collect();
        reader.text += text.len();
        if !usable(&text) {
            without_text.push(number);
        }
        sections.extend(page_sections);
    }
    if sections.is_empty() {
        match first_failure {
            Some(failure) if !any_read => return Err(failure),
            _ if reader.font_over_limit => {
                return Err(Error::PdfLimit(
                    "a font's tounicode cmap is too large".into(),
                ))
            }
            _ => {}
        }
    }
    Ok(PdfText {
        sections,
        pages: u32::try_from(pages.len()).unwrap_or(u32::MAX),
        without_text,
    })
}

/// Loads the document once its objects are counted and found within the limit.
fn load(bytes: &[u8], limits: Limits, deadline: Deadline) -> Result<Document> {
    let objects = lex::count_objects(bytes, limits.objects, || deadline.check())?;
    if objects > limits.objects {
        return Err(too_many_objects(limits));
    }
    let doc = load_counted(bytes, objects, limits, deadline, false)?;
    // lopdf rebuilds the cross-reference table of a file whose page tree did not load, but
    // only when it loads without a filter, as `load_counted` does not: the same here.
    if doc.xref_recovery != Some(XrefRecovery::Reconstructed)
        && !page_tree_loaded(&doc)
        && !doc.trailer.has(b"Encrypt")
    {
        deadline.check()?;
        if let Ok(rebuilt) = load_counted(bytes, objects, limits, deadline, true) {
            if rebuilt.xref_recovery == Some(XrefRecovery::Reconstructed)
                && page_tree_loaded(&rebuilt)
            {
                return Ok(rebuilt);
            }
        }
    }
    Ok(doc)
}

/// What the load filter knows of the load running on its thread.
#[derive(Debug, Clone, Copy)]
struct LoadState {
    /// Objects that object streams may still build.
    allowance: usize,
    /// Decompressed size of one object stream.
    max_stream: usize,
    deadline: Deadline,
    /// Why the load has to fail, once it has to: every object is dropped from then on.
    refused: Option<Refusal>,
}

#[derive(Debug, Clone, Copy)]
enum Refusal {
    TooManyObjects,
    Timeout,
}

thread_local! {
    static LOAD: Cell<Option<LoadState>> = const { Cell::new(None) };
}

fn load_counted(
    bytes: &[u8],
    objects: usize,
    limits: Limits,
    deadline: Deadline,
    reconstruct: bool,
) -> Result<Document> {
    LOAD.set(Some(LoadState {
        allowance: limits.objects.saturating_sub(objects),
        max_stream: limits.load_stream,
        deadline,
        refused: None,
    }));
    let options = LoadOptions {
        max_decompressed_size: Some(limits.load_stream),
        filter: Some(count_object_stream),
        force_reconstruct: reconstruct,
        ..LoadOptions::default()
    };
    let loaded = Document::load_mem_with_options(bytes, options);
    match LOAD.take().and_then(|state| state.refused) {
        Some(Refusal::TooManyObjects) => return Err(too_many_objects(limits)),
        Some(Refusal::Timeout) => return Err(Error::Timeout(deadline.secs)),
        None => {}
    }
    loaded.map_err(|e| match e {
        lopdf::Error::InvalidPassword | lopdf::Error::Decryption(_) => Error::PdfEncrypted,
        lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded { .. }) => {
            Error::PdfLimit(format!(
                "a stream decompresses to more than {} MiB",
                limits.load_stream / MIB
            ))
        }
        other => Error::PdfMalformed(other.to_string()),
    })
}

/// lopdf's load filter, called with each object it loads: counts the objects of an object
/// stream before lopdf builds them, and drops a stream that does not fit the allowance.
/// Everything else is kept (returned as it is, for the filter's result replaces the objects
/// of object streams).
fn count_object_stream(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    let Some(mut state) = LOAD.get() else {
        return Some((id, object.clone()));
    };
    if state.refused.is_some() {
        return None;
    }
    if let Object::Stream(stream) = &*object {
        if stream.dict.has_type(b"ObjStm") {
            if state.deadline.check().is_err() {
                state.refused = Some(Refusal::Timeout);
                LOAD.set(Some(state));
                return None;
            }
            // One over the size limit fails the load when lopdf decompresses it in turn.
            let count = stream
                .get_plain_content_with_limit(state.max_stream)
                .map_or(0, |data| {
                    lex::count_objects::<()>(&data, state.allowance, || Ok(())).unwrap_or(0)
                });
            if count > state.allowance {
                state.refused = Some(Refusal::TooManyObjects);
                LOAD.set(Some(state));
                return None;
            }
            state.allowance -= count;
            LOAD.set(Some(state));
        }
    }
    Some((id, object.clone()))
}

fn too_many_objects(limits: Limits) -> Error {
    Error::PdfLimit(format!("more than {} objects to load", limits.objects))
}

/// As lopdf decides it: whether the catalog leads to a page tree with `/Kids`.
fn page_tree_loaded(doc: &Document) -> bool {
    doc.catalog()
        .and_then(|catalog| catalog.get(b"Pages"))
        .and_then(Object::as_reference)
        .and_then(|root| doc.get_dictionary(root))
        .and_then(|root| root.get_deref(b"Kids", doc))
        .and_then(Object::as_array)
        .is_ok()
}

/// Reads pages one by one, within the budgets of the whole document.
struct PageReader<'a> {
    doc: &'a Document,
    limits: Limits,
    deadline: Deadline,
    /// Fonts met so far, by the address of the font's dictionary: pages share fonts, and each
    /// is read once (`None`: one without a usable decoder).
    fonts: HashMap<*const Dictionary, Option<Rc<font::Font>>>,
    tables: font::Tables,
    /// The font for text whose font is missing.
    fallback: Option<Rc<font::Font>>,
    /// Decompressed content of form XObjects, by object, while they fit [`FORM_CACHE`].
    forms: HashMap<ObjectId, Rc<Vec<u8>>>,
    forms_size: usize,
    /// Fonts of the page being read, for its forms without resources of their own.
    page_fonts: content::Fonts,
    /// Decompressed page content so far (a content stream shared by pages counts each time).
    content: usize,
    /// Decompressed font CMaps so far.
    cmaps: usize,
    /// Codes mapped by the fonts in `fonts`.
    kept_codes: u64,
    /// Text of the pages read so far.
    text: usize,
    /// Text boxes made so far.
    boxes: usize,
    /// Whether a font's CMap was over a limit (its text is left out).
    font_over_limit: bool,
}

/// Decompressed form XObjects kept for the pages that draw them again.
const FORM_CACHE: usize = 32 * MIB;

/// A page's box in user space and its rotation, to turn user space into fractions of the
/// page as shown, from its top left corner.
#[derive(Debug, Clone, Copy)]
struct PageBox {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
    rotate: i64,
}

impl PageBox {
    fn of(doc: &Document, page: &Dictionary) -> Self {
        let rect = |key: &[u8]| -> Option<[f64; 4]> {
            let array = inherited(doc, page, key)?.as_array().ok()?;
            let mut r = [0.0; 4];
            for (v, o) in r.iter_mut().zip(array) {
                *v = match doc.dereference(o).ok()?.1 {
                    Object::Integer(i) => *i as f64,
                    Object::Real(f) => f64::from(*f),
                    _ => return None,
                };
            }
            let r = [
                r[0].min(r[2]),
                r[1].min(r[3]),
                r[0].max(r[2]),
                r[1].max(r[3]),
            ];
            (array.len() == 4 && r[2] - r[0] >= 1.0 && r[3] - r[1] >= 1.0).then_some(r)
        };
        let media = rect(b"MediaBox").unwrap_or([0.0, 0.0, 612.0, 792.0]);
        let b = match rect(b"CropBox") {
            Some(c) => {
                let i = [
                    c[0].max(media[0]),
                    c[1].max(media[1]),
                    c[2].min(media[2]),
                    c[3].min(media[3]),
                ];
                if i[2] - i[0] >= 1.0 && i[3] - i[1] >= 1.0 {
                    i
                } else {
                    media
                }
            }
            None => media,
        };
        let rotate = inherited(doc, page, b"Rotate")
            .and_then(|o| o.as_i64().ok())
            .map_or(0, |r| r.rem_euclid(360));
        Self {
            x0: b[0],
            y0: b[1],
            x1: b[2],
            y1: b[3],
            rotate,
        }
    }

    /// A box in user space as fractions of the page as shown.
    fn rect(&self, b: layout::Bounds) -> retrieval::Rect {
        let (w, h) = (self.x1 - self.x0, self.y1 - self.y0);
        let point = |x: f64, y: f64| -> (f64, f64) {
            let (u, v) = match self.rotate {
                90 => ((y - self.y0) / h, (x - self.x0) / w),
                180 => ((self.x1 - x) / w, (y - self.y0) / h),
                270 => ((self.y1 - y) / h, (self.x1 - x) / w),
                _ => ((x - self.x0) / w, (self.y1 - y) / h),
            };
            (u.clamp(0.0, 1.0), v.clamp(0.0, 1.0))
        };
        let (a, c) = (point(b[0], b[1]), point(b[2], b[3]));
        retrieval::Rect {
            x0: a.0.min(c.0) as f32,
            y0: a.1.min(c.1) as f32,
            x1: a.0.max(c.0) as f32,
            y1: a.1.max(c.1) as f32,
        }
    }
}

/// A page attribute, from the page or the nearest node above it that has it.
fn inherited<'a>(doc: &'a Document, page: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    let mut node = page;
    for _ in 0..32 {
        if let Ok(value) = node.get(key) {
            return doc.dereference(value).ok().map(|(_, o)| o);
        }
        node = node.get_deref(b"Parent", doc).ok()?.as_dict().ok()?;
    }
    None
}

/// Annotations read on one page at most.
const MAX_ANNOTATIONS: usize = 1024;

/// The normal appearance streams of a page's visible annotations, each with the matrix that
/// maps its form space onto the annotation's rectangle (without the form's own matrix).
fn annotation_appearances<'a>(
    doc: &'a Document,
    page: Option<&'a Dictionary>,
) -> Vec<(&'a lopdf::Stream, content::Matrix)> {
    let mut out = Vec::new();
    let Some(annots) = page
        .and_then(|p| p.get_deref(b"Annots", doc).ok())
        .and_then(|a| a.as_array().ok())
    else {
        return out;
    };
    let numbers = |o: &Object| -> Option<Vec<f64>> {
        let array = doc.dereference(o).ok()?.1.as_array().ok()?;
        array
            .iter()
            .map(|v| match doc.dereference(v).ok()?.1 {
                Object::Integer(i) => Some(*i as f64),
                Object::Real(f) => Some(f64::from(*f)),
                _ => None,
            })
            .filter(|v| v.is_none_or(f64::is_finite))
            .collect()
    };
    for annot in annots.iter().take(MAX_ANNOTATIONS) {
        let Some(annot) = doc
            .dereference(annot)
            .ok()
            .and_then(|(_, o)| o.as_dict().ok())
        else {
            continue;
        };
        let flags = annot.get(b"F").and_then(Object::as_i64).unwrap_or(0);
        let subtype = annot
            .get(b"Subtype")
            .and_then(Object::as_name)
            .unwrap_or(b"");
        // Hidden or not viewed; popups and links show no text of their own.
        if flags & (2 | 32) != 0 || matches!(subtype, b"Popup" | b"Link") {
            continue;
        }
        let Some(normal) = annot
            .get_deref(b"AP", doc)
            .and_then(Object::as_dict)
            .ok()
            .and_then(|ap| ap.get_deref(b"N", doc).ok())
        else {
            continue;
        };
        let stream = match normal {
            Object::Stream(stream) => stream,
            Object::Dictionary(states) => {
                let state = annot.get(b"AS").and_then(Object::as_name);
                match state.ok().and_then(|s| states.get_deref(s, doc).ok()) {
                    Some(Object::Stream(stream)) => stream,
                    _ => continue,
                }
            }
            _ => continue,
        };
        let (Some(rect), Some(bbox)) = (
            annot.get(b"Rect").ok().and_then(numbers),
            stream.dict.get(b"BBox").ok().and_then(numbers),
        ) else {
            continue;
        };
        if rect.len() != 4 || bbox.len() != 4 {
            continue;
        }
        let form_matrix = stream
            .dict
            .get(b"Matrix")
            .ok()
            .and_then(numbers)
            .and_then(|m| <[f64; 6]>::try_from(m).ok())
            .unwrap_or(content::IDENTITY);
        // The box the form's matrix makes of its bounding box, fitted onto the rectangle.
        let corners = [
            (bbox[0], bbox[1]),
            (bbox[2], bbox[1]),
            (bbox[0], bbox[3]),
            (bbox[2], bbox[3]),
        ]
        .map(|(x, y)| content::apply(&form_matrix, x, y));
        let (bx0, bx1) = corners
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (by0, by1) = corners
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let (rx0, ry0) = (rect[0].min(rect[2]), rect[1].min(rect[3]));
        let (rw, rh) = ((rect[2] - rect[0]).abs(), (rect[3] - rect[1]).abs());
        let (sx, sy) = (
            if bx1 - bx0 > 1e-6 {
                rw / (bx1 - bx0)
            } else {
                1.0
            },
            if by1 - by0 > 1e-6 {
                rh / (by1 - by0)
            } else {
                1.0
            },
        );
        let matrix = [sx, 0.0, 0.0, sy, rx0 - bx0 * sx, ry0 - by0 * sy];
        if matrix.iter().all(|v| v.is_finite()) {
            out.push((stream, matrix));
        }
    }
    out
}

/// The resources a page's content and its forms refer to.
struct PageResources<'r, 'a> {
    reader: &'r mut PageReader<'a>,
    /// Resource dictionaries, looked in in order, of the page (0) and of each form drawn.
    scopes: Vec<Vec<&'a Dictionary>>,
}

impl<'a> content::Resources for PageResources<'_, 'a> {
    fn form(&mut self, scope: usize, name: &[u8]) -> Result<Option<content::Form>> {
        let doc = self.reader.doc;
        let Some(dicts) = self.scopes.get(scope) else {
            return Ok(None);
        };
        let found = dicts.iter().find_map(|resources| {
            let xobjects = resources.get_deref(b"XObject", doc).ok()?.as_dict().ok()?;
            match xobjects.get(name).ok()? {
                Object::Reference(id) => Some((Some(*id), doc.get_object(*id).ok()?)),
                direct => Some((None, direct)),
            }
        });
        let Some((id, Object::Stream(stream))) = found else {
            return Ok(None);
        };
        if !matches!(
            stream.dict.get(b"Subtype").and_then(Object::as_name),
            Ok(b"Form")
        ) {
            return Ok(None);
        }
        self.form_of(id, stream, scope)
    }
}

impl<'a> PageResources<'_, 'a> {
    /// A form XObject's content, matrix and fonts; its own resources become a new scope, and
    /// without them it uses those of `scope`.
    fn form_of(
        &mut self,
        id: Option<ObjectId>,
        stream: &'a lopdf::Stream,
        scope: usize,
    ) -> Result<Option<content::Form>> {
        let doc = self.reader.doc;
        let cached = id.and_then(|id| self.reader.forms.get(&id).cloned());
        let content = match cached {
            Some(content) => content,
            None => {
                let Some(data) = self
                    .reader
                    .decompress(|limit| stream.get_plain_content_with_limit(limit))?
                else {
                    return Ok(None);
                };
                let data = Rc::new(data);
                if let Some(id) = id {
                    if self.reader.forms_size + data.len() > FORM_CACHE {
                        self.reader.forms.clear();
                        self.reader.forms_size = 0;
                    }
                    if data.len() <= FORM_CACHE {
                        self.reader.forms_size += data.len();
                        self.reader.forms.insert(id, data.clone());
                    }
                }
                data
            }
        };
        let mut matrix = content::IDENTITY;
        if let Ok(array) = stream.dict.get(b"Matrix").and_then(Object::as_array) {
            let values: Vec<f64> = array
                .iter()
                .filter_map(|o| match o {
                    Object::Integer(i) => Some(*i as f64),
                    Object::Real(f) => Some(f64::from(*f)),
                    _ => None,
                })
                .filter(|v| v.is_finite())
                .collect();
            if let Ok(m) = <[f64; 6]>::try_from(values) {
                matrix = m;
            }
        }
        let (fonts, scope) = match stream
            .dict
            .get_deref(b"Resources", doc)
            .and_then(Object::as_dict)
        {
            Ok(resources) => {
                let mut fonts = content::Fonts::new();
                if let Some(fallback) = &self.reader.fallback {
                    fonts.insert(content::FALLBACK.to_vec(), Some(fallback.clone()));
                }
                if let Ok(dict) = resources.get_deref(b"Font", doc).and_then(Object::as_dict) {
                    for (name, font) in dict.iter() {
                        let Ok(font) = doc.dereference(font).and_then(|(_, o)| o.as_dict()) else {
                            continue;
                        };
                        let font = self.reader.font(font)?;
                        fonts.insert(name.clone(), font);
                    }
                }
                if self.scopes.len() >= 4096 {
                    return Ok(None);
                }
                self.scopes.push(vec![resources]);
                (fonts, self.scopes.len() - 1)
            }
            // Without resources of its own, a form uses those of what draws it.
            Err(_) => (self.reader.page_fonts.clone(), scope),
        };
        Ok(Some(content::Form {
            content,
            matrix,
            fonts,
            scope,
        }))
    }
}

impl<'a> PageReader<'a> {
    fn new(doc: &'a Document, limits: Limits, deadline: Deadline) -> Self {
        let mut tables = font::Tables::new();
        let standard = dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        };
        let fallback = font::Font::read(doc, &standard, &mut tables, limits.font_cmap)
            .ok()
            .map(Rc::new);
        Self {
            doc,
            limits,
            deadline,
            fonts: HashMap::new(),
            tables,
            fallback,
            forms: HashMap::new(),
            forms_size: 0,
            page_fonts: content::Fonts::new(),
            content: 0,
            cmaps: 0,
            kept_codes: 0,
            text: 0,
            boxes: 0,
            font_over_limit: false,
        }
    }

    /// Decompresses page content within the limits: `Ok(None)` when this page's limit is
    /// spent, `Err(_)` when the document's is.
    fn decompress(
        &mut self,
        read: impl FnOnce(usize) -> lopdf::Result<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>> {
        let limit = self
            .limits
            .page_content
            .min(self.limits.content.saturating_sub(self.content));
        match read(limit) {
            Ok(data) => {
                self.content += data.len();
                if self.content > self.limits.content {
                    return Err(self.content_over_limit());
                }
                Ok(Some(data))
            }
            Err(lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded { .. })) => {
                // As much was decompressed before it stopped.
                self.content += limit;
                if limit < self.limits.page_content {
                    return Err(self.content_over_limit());
                }
                Ok(None)
            }
            Err(_) => Ok(None),
        }
    }

    fn content_over_limit(&self) -> Error {
        Error::PdfLimit(format!(
            "more than {} MiB of page content",
            self.limits.content / MIB
        ))
    }

    /// The sections of one page (its text, and its tables), with their boxes; `Ok(Err(_))`
    /// when this page cannot be read, `Err(_)` when the document has to stop (a budget is
    /// spent).
    fn page_text(&mut self, number: u32, page_id: ObjectId) -> Result<Result<Vec<Section>>> {
        let doc = self.doc;
        let fonts = match doc.get_page_fonts(page_id) {
            Ok(fonts) => fonts,
            Err(e) => return Ok(Err(Error::PdfMalformed(format!("page {number}: {e}")))),
        };
        if self.kept_codes > self.limits.kept_codes / 2 {
            // Make room: fonts dropped now are read again when a later page needs them.
            self.fonts.clear();
            self.kept_codes = 0;
        }
        let mut page_fonts = content::Fonts::new();
        if let Some(fallback) = &self.fallback {
            page_fonts.insert(content::FALLBACK.to_vec(), Some(fallback.clone()));
        }
        for (name, &font) in &fonts {
            let font = self.font(font)?;
            page_fonts.insert(name.clone(), font);
        }
        let limit = self
            .limits
            .page_content
            .min(self.limits.content.saturating_sub(self.content));
        let data = match doc.get_page_content_with_limit(page_id, limit) {
            Ok(data) => data,
            Err(lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded { .. })) => {
                // As much was decompressed before it stopped.
                self.content += limit;
                if limit < self.limits.page_content {
                    return Err(self.content_over_limit());
                }
                return Ok(Err(Error::PdfLimit(format!(
                    "page {number} has more than {} MiB of content",
                    self.limits.page_content / MIB
                ))));
            }
            Err(e) => return Ok(Err(Error::PdfMalformed(format!("page {number}: {e}")))),
        };
        self.content += data.len();

        let page_dict = doc.get_dictionary(page_id).ok();
        let page_box = page_dict.map(|p| PageBox::of(doc, p));
        let mut scope = Vec::new();
        if let Ok((dict, ids)) = doc.get_page_resources(page_id) {
            scope.extend(dict);
            scope.extend(ids.iter().filter_map(|id| doc.get_dictionary(*id).ok()));
        }
        self.page_fonts = page_fonts.clone();
        let (deadline, text_before, max_text) = (self.deadline, self.text, self.limits.text);
        // The page's text so far against the document's budget, and the clock.
        let mut check = |len: usize| {
            deadline.check()?;
            if text_before + len > max_text {
                return Err(Error::PdfLimit(format!(
                    "more than {} MiB of text",
                    max_text / MIB
                )));
            }
            Ok(())
        };
        let mut page = layout::PageText::new(self.limits.boxes.saturating_sub(self.boxes));
        let mut resources = PageResources {
            reader: self,
            scopes: vec![scope],
        };
        content::extract(
            &data,
            &page_fonts,
            content::IDENTITY,
            0,
            &mut page,
            &mut resources,
            &mut check,
        )?;
        // The appearances of the page's annotations (form fields, free text, stamps), as
        // viewers draw them over the page.
        for (stream, matrix) in annotation_appearances(doc, page_dict) {
            deadline.check()?;
            let Some(form) = resources.form_of(None, stream, 0)? else {
                continue;
            };
            let matrix = content::mul(&form.matrix, &matrix);
            content::extract(
                &form.content,
                &form.fonts,
                matrix,
                form.scope,
                &mut page,
                &mut resources,
                &mut check,
            )?;
        }
        let (text, words) = page.finish();
        self.boxes += words.len();
        let page_box = page_box.unwrap_or(PageBox {
            x0: 0.0,
            y0: 0.0,
            x1: 612.0,
            y1: 792.0,
            rotate: 0,
        });
        let boxes = |words: Vec<layout::Word>| -> Vec<TextBox> {
            words
                .iter()
                .map(|w| TextBox {
                    start: u32::try_from(w.start).unwrap_or(u32::MAX),
                    end: u32::try_from(w.end).unwrap_or(u32::MAX),
                    rect: page_box.rect(w.bounds),
                })
                .collect()
        };
        let sections = table::split(text, words)
            .into_iter()
            .filter_map(|block| {
                let mut section = match block {
                    table::Block::Text(text, words) if !text.is_empty() => {
                        let mut section = Section::text(Some(number), Vec::new(), text);
                        section.boxes = boxes(words);
                        section
                    }
                    table::Block::Text(..) => return None,
                    table::Block::Table(table, words) => {
                        let mut section = Section::table(Some(number), Vec::new(), table);
                        section.boxes = boxes(words);
                        section
                    }
                };
                section.page = Some(number);
                Some(section)
            })
            .collect();
        Ok(Ok(sections))
    }

    /// A font, read once per document while there is room to keep it. lopdf bounds the size
    /// of the ToUnicode CMap it decompresses, but not the sum over fonts nor the codes the
    /// CMap maps, so those are counted here first.
    fn font(&mut self, font: &'a Dictionary) -> Result<Option<Rc<font::Font>>> {
        let key = std::ptr::from_ref(font);
        if let Some(found) = self.fonts.get(&key) {
            return Ok(found.clone());
        }
        self.deadline.check()?;
        let mut codes = 0;
        if let Ok(Object::Stream(stream)) = font.get_deref(b"ToUnicode", self.doc) {
            if let Ok(data) = stream.get_plain_content_with_limit(self.limits.font_cmap) {
                self.cmaps += data.len();
                codes = lex::cmap_codes(&data);
            }
        }
        if self.cmaps > self.limits.font_cmaps {
            return Err(Error::PdfLimit(format!(
                "more than {} MiB of font cmaps",
                self.limits.font_cmaps / MIB
            )));
        }
        if codes > self.limits.font_codes {
            // Never decoded: its text is left out.
            self.font_over_limit = true;
            self.fonts.insert(key, None);
            return Ok(None);
        }
        if self.kept_codes + codes > self.limits.kept_codes {
            // No room on this page: its text is left out here, and it is tried again later.
            self.font_over_limit = true;
            return Ok(None);
        }
        // A font without a usable decoder shows no text; the rest of the page still counts.
        let read = match font::Font::read(self.doc, font, &mut self.tables, self.limits.font_cmap) {
            Ok(read) => Some(Rc::new(read)),
            Err(font::FontError::OverLimit) => {
                self.font_over_limit = true;
                None
            }
        };
        self.kept_codes += codes;
        self.fonts.insert(key, read.clone());
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use e2e::make_pdf;
    use lopdf::{dictionary, Stream};

    #[test]
    fn text_per_page_with_numbers() {
        let bytes = make_pdf(&["Hello first page", "Second page here\nwith two lines"]);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.pages, 2);
        assert_eq!(parsed.sections.len(), 2);
        assert_eq!(parsed.sections[0].page, Some(1));
        assert!(parsed.sections[0].text.contains("Hello first page"));
        assert_eq!(parsed.sections[1].page, Some(2));
        assert!(parsed.sections[1].text.contains("with two lines"));
    }

    #[test]
    fn malformed_and_truncated_files_are_errors() {
        assert!(matches!(
            parse(b"%PDF-1.4\ngarbage"),
            Err(Error::PdfMalformed(_))
        ));
        let bytes = make_pdf(&["Hello"]);
        let cut = &bytes[..bytes.len() / 2];
        assert!(parse_with_timeout(cut.to_vec(), Duration::from_secs(10)).is_err());
    }

    #[test]
    fn blank_pages_have_no_text() {
        let bytes = make_pdf(&[""]);
        assert!(matches!(parse(&bytes), Err(Error::PdfNoText)));
    }

    /// A document of `pages` pages that all show the one content stream `content`, compressed
    /// or not.
    fn shared_content_pdf(content: &[u8], compress: bool, pages: usize) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        let mut stream = Stream::new(dictionary! {}, content.to_vec());
        if compress {
            stream.compress().unwrap();
        }
        let content_id = doc.add_object(stream);
        let kids: Vec<Object> = (0..pages)
            .map(|_| {
                doc.add_object(dictionary! {
                    "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
                })
                .into()
            })
            .collect();
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => kids, "Count" => i64::try_from(pages).unwrap(),
                "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
            }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    /// A file of the objects numbered from 1, with a cross-reference table; object 1 is the
    /// catalog.
    fn raw_pdf(objects: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut offsets = Vec::new();
        for (i, object) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(object);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for offset in offsets {
            out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    #[test]
    fn many_pages_in_linear_time() {
        // lopdf's extract_text walks the whole page tree for every page it is asked for.
        let bytes = shared_content_pdf(b"BT /F1 12 Tf (page) Tj ET", false, 20_000);
        let parsed = parse_with_timeout(bytes, Duration::from_secs(60)).unwrap();
        assert_eq!(parsed.pages, 20_000);
        assert_eq!(parsed.sections.len(), 20_000);
        assert_eq!(parsed.sections[19_999].text, "page");
    }

    #[test]
    fn dense_content_is_read_without_decoding_it_whole() {
        // 8 MiB of numbers, which lopdf's Content::decode holds as a gigabyte of objects.
        let mut content = b"BT /F1 12 Tf (before) Tj ET ".to_vec();
        content.extend(b"1 ".repeat(4 * MIB));
        content.extend_from_slice(b" BT /F1 12 Tf (after) Tj ET");
        let parsed = parse(&shared_content_pdf(&content, true, 1)).unwrap();
        assert_eq!(parsed.sections[0].text, "before\nafter");
    }

    #[test]
    fn content_over_the_limits_is_an_error() {
        let limits = Limits {
            page_content: MIB,
            content: 3 * MIB,
            ..Limits::DEFAULT
        };
        let page = b"BT /F1 12 Tf (x) Tj ET ".repeat(MIB / 23 + 1);
        let one = shared_content_pdf(&page, true, 1);
        assert!(matches!(
            parse_within(&one, limits, Deadline::NONE),
            Err(Error::PdfLimit(m)) if m == "page 1 has more than 1 MiB of content"
        ));
        let small = b"BT /F1 12 Tf (x) Tj ET ".repeat(MIB / 23 - 1);
        let many = shared_content_pdf(&small, true, 5);
        assert!(matches!(
            parse_within(&many, limits, Deadline::NONE),
            Err(Error::PdfLimit(m)) if m == "more than 3 MiB of page content"
        ));
        let text = Limits {
            text: MIB / 8,
            ..Limits::DEFAULT
        };
        assert!(matches!(
            parse_within(&many, text, Deadline::NONE),
            Err(Error::PdfLimit(m)) if m.ends_with("of text")
        ));
    }

    #[test]
    fn objects_over_the_limit_are_refused_before_loading() {
        let limits = Limits {
            objects: 100_000,
            ..Limits::DEFAULT
        };
        let mut big = b"%PDF-1.4\n1 0 obj [".to_vec();
        big.extend(b"0 ".repeat(100_001));
        big.extend_from_slice(b"] endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
        assert!(matches!(
            parse_within(&big, limits, Deadline::NONE),
            Err(Error::PdfLimit(m)) if m == "more than 100000 objects to load"
        ));

        // The same, packed in an object stream.
        let mut packed = b"500 0 [".to_vec();
        packed.extend(b"0 ".repeat(100_001));
        packed.push(b']');
        let mut objstm = Stream::new(dictionary! {}, packed);
        objstm.compress().unwrap();
        let mut objstm_object = format!(
            "<< /Type /ObjStm /N 1 /First 6 /Filter /FlateDecode /Length {} >>\nstream\n",
            objstm.content.len()
        )
        .into_bytes();
        objstm_object.extend_from_slice(&objstm.content);
        objstm_object.extend_from_slice(b"\nendstream");
        let bytes = raw_pdf(&[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R \
                /Resources << /Font << /F1 5 0 R >> >> >>"
                .to_vec(),
            b"<< /Length 22 >>\nstream\nBT /F1 12 Tf (x) Tj ET\nendstream".to_vec(),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
            objstm_object,
        ]);
        assert!(matches!(
            parse_within(&bytes, limits, Deadline::NONE),
            Err(Error::PdfLimit(m)) if m == "more than 100000 objects to load"
        ));
        // Within the limit the object stream loads.
        assert!(parse_within(&bytes, Limits::DEFAULT, Deadline::NONE).is_ok());
    }

    #[test]
    fn a_cmap_over_billions_of_codes_is_refused() {
        // lopdf walks every code of every range to build its reverse map.
        let cmap = b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
            1 begincodespacerange\n<00000000> <FFFFFFFF>\nendcodespacerange\n\
            1 beginbfrange\n<00000000> <FFFFFFFF> <0000>\nendbfrange\nendcmap\n\
            CMapName currentdict /CMap defineresource pop\nend\nend\n";
        let mut cmap_object = format!("<< /Length {} >>\nstream\n", cmap.len()).into_bytes();
        cmap_object.extend_from_slice(cmap);
        cmap_object.extend_from_slice(b"\nendstream");
        let bytes = raw_pdf(&[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R \
                /Resources << /Font << /F1 5 0 R >> >> >>"
                .to_vec(),
            b"<< /Length 30 >>\nstream\nBT /F1 12 Tf <00000048> Tj ET\nendstream".to_vec(),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /X /ToUnicode 6 0 R >>".to_vec(),
            cmap_object,
        ]);
        assert!(matches!(
            parse_with_timeout(bytes, Duration::from_secs(20)),
            Err(Error::PdfLimit(m)) if m == "a font's tounicode cmap is too large"
        ));
    }

    #[test]
    fn the_deadline_stops_the_parse() {
        let bytes = make_pdf(&["Hello"]);
        assert!(matches!(
            parse_within(&bytes, Limits::DEFAULT, Deadline::after(Duration::ZERO)),
            Err(Error::Timeout(0))
        ));
    }

    /// A one-page document of `content` on a page of `media_box`, rotated by `rotate`, with
    /// Helvetica as /F1.
    fn page_pdf(content: &[u8], media_box: [i64; 4], rotate: i64) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        });
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.to_vec()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
            "MediaBox" => media_box.iter().map(|&v| Object::Integer(v)).collect::<Vec<_>>(),
            "Rotate" => rotate,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    fn close(rect: retrieval::Rect, want: [f32; 4]) -> bool {
        [rect.x0, rect.y0, rect.x1, rect.y1]
            .iter()
            .zip(want)
            .all(|(a, b)| (a - b).abs() < 0.02)
    }

    #[test]
    fn words_get_spaces_lines_and_boxes() {
        let content = b"BT /F1 12 Tf 72 700 Td (Hello) Tj 40 0 Td (world) Tj \
            -40 -16 Td (second) Tj 50 0 Td (line) Tj ET";
        let parsed = parse(&page_pdf(content, [0, 0, 612, 792], 0)).unwrap();
        let section = &parsed.sections[0];
        assert_eq!(section.text, "Hello world\nsecond line");
        let words: Vec<&str> = section
            .boxes
            .iter()
            .map(|b| &section.text[b.start as usize..b.end as usize])
            .collect();
        assert_eq!(words, ["Hello", "world", "second", "line"]);
        // "Hello" at x 72, baseline 700, 12 points high, from the top left corner.
        let hello = section.boxes[0].rect;
        let width = (722.0 + 556.0 + 222.0 + 222.0 + 556.0) / 1000.0 * 12.0;
        let want = [
            72.0 / 612.0,
            (792.0 - 700.0 - 0.8 * 12.0) / 792.0,
            (72.0 + width) / 612.0,
            (792.0 - 700.0 + 0.2 * 12.0) / 792.0,
        ];
        assert!(close(hello, want), "{hello:?} {want:?}");
        let world = section.boxes[1].rect;
        assert!((world.x0 - 112.0 / 612.0).abs() < 0.02, "{world:?}");
        let second = section.boxes[2].rect;
        assert!(second.y0 > hello.y0 + 0.01, "{second:?}");
    }

    #[test]
    fn boxes_follow_the_crop_box_and_rotation() {
        let content = b"BT /F1 10 Tf 100 200 Td (Rotated text here) Tj ET";
        // A page shown turned a quarter clockwise: user space x runs down, y runs right.
        let parsed = parse(&page_pdf(content, [0, 0, 400, 800], 90)).unwrap();
        let first = parsed.sections[0].boxes[0].rect;
        assert!(
            (first.x0 - 198.0 / 800.0).abs() < 0.02 && (first.y0 - 100.0 / 400.0).abs() < 0.02,
            "{first:?}"
        );
        let parsed = parse(&page_pdf(content, [0, 0, 400, 800], 180)).unwrap();
        let first = parsed.sections[0].boxes[0].rect;
        assert!((first.y1 - 202.0 / 800.0).abs() < 0.02, "{first:?}");
        // Media box not at the origin.
        let parsed = parse(&page_pdf(content, [100, 100, 500, 900], 0)).unwrap();
        let first = parsed.sections[0].boxes[0].rect;
        assert!(
            first.x0.abs() < 0.01 && (first.y1 - 0.875).abs() < 0.02,
            "{first:?}"
        );
    }

    #[test]
    fn page_text_is_clean_and_boxes_index_it() {
        let content = b"BT /F1 12 Tf 72 700 Td (  a\tb  ) Tj 0 -300 Td ( ) Tj 0 -20 Td (cd) Tj ET";
        let parsed = parse(&page_pdf(content, [0, 0, 612, 792], 0)).unwrap();
        let section = &parsed.sections[0];
        assert_eq!(section.text, "a b\ncd");
        for b in &section.boxes {
            assert!(section.text.is_char_boundary(b.start as usize));
            assert!(section.text.is_char_boundary(b.end as usize));
            assert!(b.start < b.end);
        }
    }

    #[test]
    fn aligned_columns_become_a_table_section() {
        let content = b"BT /F1 10 Tf 72 720 Td (Quarterly results) Tj ET \
            BT /F1 10 Tf 72 700 Td (Region) Tj 120 0 Td (Revenue) Tj 100 0 Td (Growth) Tj ET \
            BT /F1 10 Tf 72 686 Td (North) Tj 120 0 Td (1,200) Tj 100 0 Td (4%) Tj ET \
            BT /F1 10 Tf 72 672 Td (South) Tj 120 0 Td (980) Tj 100 0 Td (-2%) Tj ET \
            BT /F1 10 Tf 72 640 Td (A closing remark about the numbers above.) Tj ET";
        let parsed = parse(&page_pdf(content, [0, 0, 612, 792], 0)).unwrap();
        let kinds: Vec<bool> = parsed.sections.iter().map(|s| s.table.is_some()).collect();
        assert_eq!(kinds, [false, true, false]);
        let table = &parsed.sections[1];
        assert_eq!(table.page, Some(1));
        let cells = table.table.as_ref().unwrap();
        assert_eq!(cells.header, ["Region", "Revenue", "Growth"]);
        assert_eq!(
            cells.rows,
            [["North", "1,200", "4%"], ["South", "980", "-2%"]]
        );
        assert_eq!(table.text, cells.markdown());
        let first = table.boxes[0];
        assert_eq!(
            &table.text[first.start as usize..first.end as usize],
            "Region"
        );
        assert!((first.rect.x0 - 72.0 / 612.0).abs() < 0.02, "{first:?}");
        let last = table.boxes.last().unwrap();
        assert_eq!(&table.text[last.start as usize..last.end as usize], "-2%");
    }

    #[test]
    fn missing_fonts_fall_back_to_a_standard_font() {
        let content = b"BT /F9 12 Tf 72 700 Td (Shown anyway) Tj ET";
        let parsed = parse(&page_pdf(content, [0, 0, 612, 792], 0)).unwrap();
        assert_eq!(parsed.sections[0].text, "Shown anyway");
    }

    #[test]
    fn annotation_appearances_are_read_in_their_rectangle() {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        let appearance = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Form",
                "BBox" => vec![0.into(), 0.into(), 200.into(), 50.into()],
                "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
            },
            b"BT /F1 12 Tf 0 20 Td (Filled in value) Tj ET".to_vec(),
        ));
        let hidden = doc.add_object(Stream::new(
            dictionary! { "BBox" => vec![0.into(), 0.into(), 200.into(), 50.into()] },
            b"BT /F1 12 Tf (Hidden) Tj ET".to_vec(),
        ));
        let content_id = doc.add_object(Stream::new(
            dictionary! {},
            b"BT /F1 12 Tf 72 700 Td (Page text first) Tj ET".to_vec(),
        ));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            "Annots" => vec![
                Object::Dictionary(dictionary! {
                    "Type" => "Annot", "Subtype" => "Widget",
                    "Rect" => vec![306.into(), 396.into(), 506.into(), 446.into()],
                    "AP" => dictionary! { "N" => appearance },
                }),
                Object::Dictionary(dictionary! {
                    "Type" => "Annot", "Subtype" => "Widget", "F" => 2,
                    "Rect" => vec![0.into(), 0.into(), 200.into(), 50.into()],
                    "AP" => dictionary! { "N" => hidden },
                }),
            ],
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            }),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        let parsed = parse(&bytes).unwrap();
        let section = &parsed.sections[0];
        assert_eq!(section.text, "Page text first\nFilled in value");
        let filled = section.boxes[3].rect;
        assert!(
            (filled.x0 - 0.5).abs() < 0.02 && (filled.y1 - (792.0 - 414.0) / 792.0).abs() < 0.02,
            "{filled:?}"
        );
    }

    #[test]
    fn fonts_are_decoded_once_per_document() {
        let bytes = shared_content_pdf(b"BT /F1 12 Tf (x) Tj ET", false, 3);
        let doc = Document::load_mem(&bytes).unwrap();
        let mut reader = PageReader::new(&doc, Limits::DEFAULT, Deadline::NONE);
        for (number, id) in doc.get_pages() {
            assert_eq!(reader.page_text(number, id).unwrap().unwrap()[0].text, "x");
        }
        assert_eq!(reader.fonts.len(), 1);
    }
}
