//! The remote embedding providers against in-test servers that speak the OpenAI and the Ollama
//! wire formats: request bodies, prefixes, batching, retries, and errors by kind.

use std::net::TcpListener;

use retrieval::embed::fake::FakeServer;
use retrieval::{connect, Embed, EmbeddingConfig, ErrorKind, HashEmbed, Provider};
use serde_json::json;

fn config(provider: Provider, base_url: String) -> EmbeddingConfig {
    EmbeddingConfig {
        provider,
        model: "test-model".into(),
        base_url,
        batch_size: 3,
        concurrency: 2,
        timeout_secs: 5,
        retries: 2,
        backoff_ms: 10,
        // No local model folder here: chunks are sized in words.
        model_dir: "/nonexistent".into(),
        ..Default::default()
    }
}

#[test]
fn openai_wire_format_prefixes_batches_and_order() {
    let server = FakeServer::start(Provider::Openai, 24);
    let mut cfg = config(Provider::Openai, format!("{}/v1/", server.url));
    cfg.api_key = Some("sk-test".into());
    cfg.query_prefix = "query: ".into();
    cfg.document_prefix = "passage: ".into();
    let e = connect(&cfg, None).unwrap();
    assert_eq!(e.dim(), 24, "found by the probe");
    assert!(e.name().starts_with("openai:test-model~"), "{}", e.name());
    let texts = [
        "alpha one",
        "beta two",
        "gamma three",
        "delta four",
        "epsilon",
        "zeta",
        "eta",
    ];
    let vectors = e.embed_batch(&texts).unwrap();
    let reference = HashEmbed::new(24);
    for (t, v) in texts.iter().zip(&vectors) {
        assert_eq!(v, &reference.vector(&format!("passage: {t}")), "{t}");
    }
    let q = e.embed_query("what is alpha").unwrap();
    assert_eq!(q, reference.vector("query: what is alpha"));
    let bodies = server.bodies();
    // The probe, three requests of at most three texts, the query.
    assert_eq!(bodies.len(), 5, "{bodies:?}");
    assert!(bodies[1..4]
        .iter()
        .all(|b| b["input"].as_array().unwrap().len() <= 3));
    assert_eq!(bodies[0]["model"], "test-model");
    assert_eq!(bodies[0]["encoding_format"], "float");
    assert!(bodies[0].get("input_type").is_none());
    assert!(server
        .auth()
        .iter()
        .all(|a| a.as_deref() == Some("Bearer sk-test")));
}

#[test]
fn input_type_is_sent_when_configured() {
    let server = FakeServer::start(Provider::Openai, 8);
    let mut cfg = config(Provider::Openai, server.url.clone());
    cfg.input_type = true;
    let e = connect(&cfg, Some(8)).unwrap();
    e.embed_query("q").unwrap();
    e.embed_batch(&["d"]).unwrap();
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 2, "a known size needs no probe");
    assert_eq!(bodies[0]["input_type"], "query");
    assert_eq!(bodies[1]["input_type"], "passage");
}

#[test]
fn ollama_wire_format() {
    let server = FakeServer::start(Provider::Ollama, 16);
    let e = connect(&config(Provider::Ollama, server.url.clone()), None).unwrap();
    assert_eq!((e.dim(), e.name()), (16, "ollama:test-model"));
    let v = e.embed_batch(&["one", "two"]).unwrap();
    assert_eq!(v[1], HashEmbed::new(16).vector("two"));
    let bodies = server.bodies();
    assert_eq!(bodies[1]["input"], json!(["one", "two"]));
    assert_eq!(bodies[1]["truncate"], true);
}

#[test]
fn passing_failures_are_retried_and_then_an_outage() {
    let server = FakeServer::start(Provider::Openai, 8);
    let e = connect(&config(Provider::Openai, server.url.clone()), Some(8)).unwrap();
    server.fail_next(2);
    assert!(e.embed_query("q").is_ok(), "two 503s, then an answer");
    assert_eq!(server.bodies().len(), 3);
    server.set_status(503);
    let err = e.embed_query("q").unwrap_err();
    assert!(err.is_embedding_outage(), "{err}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(server.bodies().len(), 6, "one try and two retries");
    // A refusal that will not pass is not retried.
    server.set_status(401);
    let err = e.embed_query("q").unwrap_err();
    assert!(!err.is_embedding_outage());
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(server.bodies().len(), 7);
}

#[test]
fn a_closed_port_is_an_outage_and_the_probe_fails() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = config(Provider::Openai, format!("http://127.0.0.1:{port}/v1"));
    let err = connect(&cfg, None).unwrap_err();
    assert!(err.is_embedding_outage(), "{err}");
    assert!(
        err.to_string().starts_with("embedding server unavailable"),
        "{err}"
    );
    // With a known size, nothing is called until it is needed.
    let e = connect(&cfg, Some(8)).unwrap();
    assert!(e.embed_batch(&["x"]).unwrap_err().is_embedding_outage());
}

#[test]
fn bad_settings_are_refused() {
    let mut cfg = config(Provider::Openai, "gpu-host:8000".into());
    assert_eq!(
        connect(&cfg, Some(8)).unwrap_err().kind(),
        ErrorKind::Invalid
    );
    cfg.base_url = "http://gpu-host:8000".into();
    cfg.batch_size = 2000;
    assert_eq!(
        connect(&cfg, Some(8)).unwrap_err().kind(),
        ErrorKind::Invalid
    );
    // 0 picks for the provider: 16 texts per request to a server, 4 for a local model.
    cfg.batch_size = 0;
    assert_eq!(cfg.batch(), 16);
    cfg.provider = Provider::Local;
    assert_eq!(cfg.batch(), 4);
}
