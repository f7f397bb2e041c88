//! The chunker on arbitrary Markdown and text ([`ingest::fuzzing::chunk_input`]): it may
//! refuse a configuration, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzzing::chunk_input(data));
