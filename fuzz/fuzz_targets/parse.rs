//! Every parser on arbitrary bytes ([`ingest::fuzzing::parse_input`]). A parse may fail,
//! never panic, abort or hang (libFuzzer's timeout catches the last).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest::fuzzing::parse_input(data));
