//! Stage 4's shared batches: the chunks of every document in flight wait in one pool, and a
//! thread of its own forms each batch from the whole pool, texts of about the same length
//! together ([`pick`]). Small documents share batches instead of each paying for a partial
//! one, and the model computes few padding tokens: a batch is padded to its longest text.
//!
//! A document hands over all its chunks at once ([`Batcher::embed`]) and gets its vectors back
//! batch by batch, for progress. Cancelling it (its document was deleted) takes its chunks out
//! of the pool. A failed batch fails each document that had a chunk in it, with the same
//! error (an embedding server that is down makes every one of them wait).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use retrieval::Embed;

use crate::error::{Error, Result};

/// Texts per batch at most.
const MAX_TEXTS: usize = 64;
/// The text length (tokens, special ones included) a batch's token budget is sized for:
/// `batch_size` texts this long fill it.
const BUDGET_LENGTH: usize = 258;

/// How often a waiting document checks whether it was cancelled.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// What the pool thread sends back to a document.
enum Reply {
    /// Vectors of some of its texts, by their index in its request.
    Part(Vec<(usize, Vec<f32>)>),
    Failed(retrieval::Error),
}

/// One document's texts, each with its token count.
struct Request {
    texts: Vec<(String, usize)>,
    reply: mpsc::Sender<Reply>,
    cancel: Arc<AtomicBool>,
}

/// A text waiting in the pool.
struct Waiting {
    request: u64,
    index: usize,
    text: String,
    tokens: usize,
}

/// A request the pool thread still owes vectors.
struct Open {
    reply: mpsc::Sender<Reply>,
    cancel: Arc<AtomicBool>,
    remaining: usize,
}

/// The shared batches of one embedding model. The pool thread ends when this is dropped.
#[derive(Debug)]
pub struct Batcher {
    tx: mpsc::Sender<Request>,
}

fn stopped() -> Error {
    Error::Retrieval(retrieval::Error::Model(
        "the embedding batch thread stopped".into(),
    ))
}

impl Batcher {
    /// Starts the pool thread for `embedder`, which gets batches of at most its
    /// [`Embed::batch_size`] texts.
    pub fn new(embedder: Arc<dyn Embed>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("ragd-batches".into())
            .spawn(move || serve(embedder.as_ref(), &rx))?;
        Ok(Batcher { tx })
    }

    /// Embeds `texts` (each with its token count) among the other documents' texts; one vector
    /// per text, in order. `progress(done)` follows each batch that held some of them; `stop`
    /// is checked while waiting. Blocking.
    pub fn embed(
        &self,
        texts: Vec<(String, usize)>,
        mut progress: impl FnMut(usize),
        stop: &dyn Fn() -> bool,
    ) -> Result<Vec<Vec<f32>>> {
        let n = texts.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let (reply, answers) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        self.tx
            .send(Request {
                texts,
                reply,
                cancel: cancel.clone(),
            })
            .map_err(|_| stopped())?;
        let mut out: Vec<Option<Vec<f32>>> = vec![None; n];
        let mut done = 0;
        while done < n {
            if stop() {
                cancel.store(true, Ordering::Relaxed);
                return Err(Error::Cancelled);
            }
            match answers.recv_timeout(CANCEL_POLL) {
                Ok(Reply::Part(part)) => {
                    for (i, v) in part {
                        if let Some(slot) = out.get_mut(i) {
                            if slot.is_none() {
                                done += 1;
                            }
                            *slot = Some(v);
                        }
                    }
                    progress(done);
                }
                Ok(Reply::Failed(e)) => return Err(Error::Retrieval(e)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(stopped()),
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}

/// The batch to embed next from a pool sorted by token count: consecutive texts (so of like
/// lengths) that fit `budget` padded tokens (each text is padded to the longest) and `max`
/// texts, the window that computes the most useful tokens less those it wastes, the longer
/// ones on a tie. Short texts fill a batch many at a time, long ones a few. Returns the range
/// in the pool.
pub fn pick(tokens: &[usize], budget: usize, max: usize) -> std::ops::Range<usize> {
    let mut prefix = Vec::with_capacity(tokens.len() + 1);
    prefix.push(0usize);
    for t in tokens {
        prefix.push(prefix.last().copied().unwrap_or(0) + t + 2);
    }
    let mut best: Option<(i64, std::ops::Range<usize>)> = None;
    for end in 1..=tokens.len() {
        let longest = tokens[end - 1] + 2;
        let most = (budget / longest).clamp(1, max.max(1)).min(end);
        for k in 1..=most {
            let start = end - k;
            let real = (prefix[end] - prefix[start]) as i64;
            let score = 2 * real - (k * longest) as i64;
            if best.as_ref().is_none_or(|(b, _)| score >= *b) {
                best = Some((score, start..end));
            }
        }
    }
    best.map_or(0..0, |(_, r)| r)
}

/// The pool thread: takes requests, embeds the best batch of what waits, sends the vectors
/// to their documents; until every [`Batcher`] handle is gone.
fn serve(embedder: &dyn Embed, rx: &mpsc::Receiver<Request>) {
    // A batch holds as many padded tokens as `batch_size` texts of the longest length the
    // chunker makes, in up to eight times as many texts.
    let max = (embedder.batch_size().max(1) * 8).min(MAX_TEXTS);
    let budget = embedder.batch_size().max(1) * BUDGET_LENGTH;
    let mut pool: Vec<Waiting> = Vec::new();
    let mut open: HashMap<u64, Open> = HashMap::new();
    let mut next_id = 0u64;
    let mut add = |request: Request, pool: &mut Vec<Waiting>, open: &mut HashMap<u64, Open>| {
        let id = next_id;
        next_id += 1;
        open.insert(
            id,
            Open {
                reply: request.reply,
                cancel: request.cancel,
                remaining: request.texts.len(),
            },
        );
        pool.extend(
            request
                .texts
                .into_iter()
                .enumerate()
                .map(|(index, (text, tokens))| Waiting {
                    request: id,
                    index,
                    text,
                    tokens,
                }),
        );
    };
    loop {
        if pool.is_empty() {
            match rx.recv() {
                Ok(request) => add(request, &mut pool, &mut open),
                Err(_) => return,
            }
        }
        while let Ok(request) = rx.try_recv() {
            add(request, &mut pool, &mut open);
        }
        open.retain(|_, o| !o.cancel.load(Ordering::Relaxed));
        pool.retain(|w| open.contains_key(&w.request));
        if pool.is_empty() {
            continue;
        }
        pool.sort_by_key(|w| w.tokens);
        let lens: Vec<usize> = pool.iter().map(|w| w.tokens).collect();
        let taken: Vec<Waiting> = pool.drain(pick(&lens, budget, max)).collect();
        let texts: Vec<&str> = taken.iter().map(|w| w.text.as_str()).collect();
        let started = std::time::Instant::now();
        // A model that panics fails this batch's documents, not the pool for good.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            embedder.embed_batch(&texts)
        }))
        .unwrap_or_else(|_| {
            Err(retrieval::Error::Model(
                "the embedding model panicked".into(),
            ))
        })
        .and_then(|v| {
            if v.len() == texts.len() {
                Ok(v)
            } else {
                Err(retrieval::Error::Model(format!(
                    "the model returned {} embeddings for {} texts",
                    v.len(),
                    texts.len()
                )))
            }
        });
        let lens: Vec<usize> = taken.iter().map(|w| w.tokens).collect();
        let (real, padded) = crate::embed::padding(&lens);
        tracing::debug!(
            texts = taken.len(),
            tokens = real,
            padded,
            waiting = pool.len(),
            ms = started.elapsed().as_millis() as u64,
            "embedded a shared batch"
        );
        match result {
            Ok(vectors) => {
                let mut parts: HashMap<u64, Vec<(usize, Vec<f32>)>> = HashMap::new();
                for (w, v) in taken.into_iter().zip(vectors) {
                    parts.entry(w.request).or_default().push((w.index, v));
                }
                for (id, part) in parts {
                    let Some(o) = open.get_mut(&id) else { continue };
                    o.remaining = o.remaining.saturating_sub(part.len());
                    let gone = o.reply.send(Reply::Part(part)).is_err();
                    if gone || o.remaining == 0 {
                        open.remove(&id);
                    }
                }
            }
            Err(e) => {
                let mut failed: Vec<u64> = taken.iter().map(|w| w.request).collect();
                failed.dedup();
                for id in failed {
                    if let Some(o) = open.remove(&id) {
                        let _ = o.reply.send(Reply::Failed(e.duplicate()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retrieval::HashEmbed;

    #[test]
    fn batches_of_like_lengths_fill_a_token_budget() {
        // Room for three long texts: the three 200s, not the short ones with a long one.
        assert_eq!(pick(&[10, 50, 200, 200, 200], 3 * 202, 8), 2..5);
        // Short texts come many at a time, up to the cap.
        assert_eq!(pick(&[30; 40], 4 * 258, 64), 8..40);
        assert_eq!(pick(&[30; 40], 4 * 258, 10), 30..40);
        // A tie goes to the longer texts; one text too long for the budget still goes.
        assert_eq!(pick(&[10, 10, 30, 30], 64, 8), 2..4);
        assert_eq!(pick(&[500], 100, 8), 0..1);
        assert_eq!(pick(&[5, 7], 1000, 8), 0..2);
        assert_eq!(pick(&[], 1000, 8), 0..0);
    }

    #[test]
    fn padding_counts_what_the_model_computes() {
        assert_eq!(crate::embed::padding(&[10, 20]), (34, 44));
        assert_eq!(crate::embed::padding(&[]), (0, 0));
    }

    /// An embedder that records the batches it is given.
    #[derive(Debug)]
    struct Recording {
        inner: HashEmbed,
        batches: std::sync::Mutex<Vec<Vec<String>>>,
        fail_on: Option<&'static str>,
        /// A batch waits for this before it is embedded; `entered` says one does.
        gate: AtomicBool,
        entered: AtomicBool,
    }

    impl Embed for Recording {
        fn name(&self) -> &str {
            self.inner.name()
        }
        fn dim(&self) -> usize {
            self.inner.dim()
        }
        fn covers(&self, language: &str) -> bool {
            self.inner.covers(language)
        }
        fn batch_size(&self) -> usize {
            4
        }
        fn tokenizer(&self) -> &tokenizers::Tokenizer {
            self.inner.tokenizer()
        }
        fn embed_query(&self, text: &str) -> retrieval::Result<Vec<f32>> {
            self.inner.embed_query(text)
        }
        fn embed_batch(&self, texts: &[&str]) -> retrieval::Result<Vec<Vec<f32>>> {
            if let Some(bad) = self.fail_on {
                if texts.contains(&bad) {
                    return Err(retrieval::Error::EmbeddingUnavailable("down".into()));
                }
            }
            assert!(!texts.contains(&"boom"), "the model broke");
            self.entered.store(true, Ordering::SeqCst);
            while !self.gate.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            self.batches
                .lock()
                .unwrap()
                .push(texts.iter().map(|t| t.to_string()).collect());
            self.inner.embed_batch(texts)
        }
    }

    fn recording(fail_on: Option<&'static str>) -> Arc<Recording> {
        Arc::new(Recording {
            inner: HashEmbed::new(8),
            batches: Default::default(),
            fail_on,
            gate: AtomicBool::new(fail_on.is_some()),
            entered: AtomicBool::new(false),
        })
    }

    fn texts(prefix: &str, lens: &[usize]) -> Vec<(String, usize)> {
        lens.iter()
            .enumerate()
            .map(|(i, &l)| (format!("{prefix} {i} {}", "w ".repeat(l)), l))
            .collect()
    }

    #[test]
    fn documents_share_batches_of_like_lengths_and_get_their_own_vectors() {
        let model = recording(None);
        let batcher = Arc::new(Batcher::new(model.clone()).unwrap());
        let docs: Vec<Vec<(String, usize)>> = ["a", "b", "c"]
            .iter()
            .map(|p| texts(p, &[100, 5, 100, 5]))
            .collect();
        let run = |d: Vec<(String, usize)>| {
            let b = batcher.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let v = b.embed(d, |n| seen.push(n), &|| false).unwrap();
                (v, seen)
            })
        };
        // The first document's batch holds the model while the others arrive and pool.
        let mut handles = vec![run(docs[0].clone())];
        while !model.entered.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        handles.extend(docs[1..].iter().cloned().map(run));
        std::thread::sleep(Duration::from_millis(200));
        model.gate.store(true, Ordering::SeqCst);
        for (doc, h) in docs.iter().zip(handles) {
            let (vectors, seen) = h.join().unwrap();
            let want: Vec<Vec<f32>> = doc.iter().map(|(t, _)| model.inner.vector(t)).collect();
            assert_eq!(vectors, want);
            assert_eq!(seen.last(), Some(&doc.len()));
        }
        // Every text once; after the first, batches of one length, each shared by documents.
        let batches = model.batches.lock().unwrap().clone();
        let all: usize = batches.iter().map(Vec::len).sum();
        assert_eq!(all, 12);
        for b in &batches[1..] {
            let long = b.iter().filter(|t| t.len() > 100).count();
            assert!(long == 0 || long == b.len(), "{batches:?}");
            let owners: std::collections::HashSet<char> =
                b.iter().map(|t| t.chars().next().unwrap()).collect();
            assert!(owners.len() >= 2, "documents share it: {batches:?}");
        }
    }

    #[test]
    fn a_failed_batch_fails_its_documents_and_a_cancelled_one_leaves() {
        let model = recording(Some("bad"));
        let batcher = Batcher::new(model.clone()).unwrap();
        let err = batcher
            .embed(vec![("bad".into(), 1)], |_| {}, &|| false)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Retrieval(retrieval::Error::EmbeddingUnavailable(_))
        ));
        let err = batcher
            .embed(texts("x", &[1; 40]), |_| {}, &|| true)
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled));
        // A model that panics fails the batch; the pool goes on serving others.
        let err = batcher
            .embed(vec![("boom".into(), 1)], |_| {}, &|| false)
            .unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        let v = batcher
            .embed(texts("y", &[3, 3]), |_| {}, &|| false)
            .unwrap();
        assert_eq!(v.len(), 2);
    }
}
