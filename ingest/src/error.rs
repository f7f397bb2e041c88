//! The ingest crate's one error type. Every variant is a per-document failure that ends the
//! document as `failed` with this message; none of them stops the pipeline.

/// Why a document could not be ingested.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the file is empty")]
    Empty,
    #[error("unsupported file format: {0}")]
    UnsupportedFormat(String),
    #[error("text encoding not recognised: {0}")]
    Encoding(String),
    #[error("pdf is encrypted")]
    PdfEncrypted,
    #[error("pdf has no text layer (scanned or image-only pages), and ocr is off for this knowledge base")]
    PdfNoText,
    /// OCR was needed and its tools or language data are missing: what to install.
    #[error("ocr is not available: {0}")]
    OcrUnavailable(String),
    #[error("ocr failed: {0}")]
    Ocr(String),
    #[error("the pdf has no text layer and ocr read no text on its pages")]
    OcrNoText,
    #[error("malformed pdf: {0}")]
    PdfMalformed(String),
    #[error("pdf exceeds a parsing limit: {0}")]
    PdfLimit(String),
    #[error("parsing took longer than {0} seconds")]
    Timeout(u64),
    #[error("archive: {0}")]
    Archive(String),
    #[error("the document contains no text")]
    NoText,
    /// A parse that ran elsewhere (a child process) failed: why, in words.
    #[error("{0}")]
    Parser(String),
    /// The document was deleted (or its ingest otherwise called off) while it ran.
    #[error("cancelled: the document was deleted while it was ingested")]
    Cancelled,
    /// Parsing outgrew a limit of the parser budget (which one, in the message).
    #[error("over the parsing budget: {0}")]
    OverBudget(String),
    #[error("chunking failed: {0}")]
    Chunk(String),
    #[error(transparent)]
    Retrieval(#[from] retrieval::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
