//! Plain text: UTF-8 (with or without BOM), UTF-16 with BOM, or a legacy encoding detected
//! with chardetng (GBK, Big5, Shift-JIS, Windows-125x…). Text that decodes with errors in the
//! detected encoding is rejected.

use encoding_rs::{Encoding, UTF_8};

use crate::error::{Error, Result};

/// Decodes `bytes` to a `String`, detecting the encoding.
pub fn decode(bytes: &[u8]) -> Result<String> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        return decode_with(encoding, &bytes[bom_len..]);
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_owned());
    }
    if bytes.contains(&0) {
        return Err(Error::Encoding("binary data (NUL bytes) in text".into()));
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(bytes, true);
    let encoding = detector.guess(None, true);
    if encoding == UTF_8 {
        return Err(Error::Encoding("invalid utf-8".into()));
    }
    decode_with(encoding, bytes)
}

fn decode_with(encoding: &'static Encoding, bytes: &[u8]) -> Result<String> {
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(Error::Encoding(format!(
            "the text is neither utf-8 nor valid {}",
            encoding.name()
        )));
    }
    Ok(text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_and_bom() {
        assert_eq!(decode("你好, world".as_bytes()).unwrap(), "你好, world");
        assert_eq!(decode(b"\xEF\xBB\xBFhi").unwrap(), "hi");
        assert_eq!(decode(&[0xFF, 0xFE, b'h', 0, b'i', 0]).unwrap(), "hi");
    }

    #[test]
    fn gbk_is_detected() {
        let text = "大模型的资源占用可以用一个简单的公式来估算。这是一段用于检测编码的中文文本。";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert_eq!(decode(&gbk).unwrap(), text);
    }

    #[test]
    fn binary_is_rejected() {
        assert!(decode(&[0xC3, 0x28, 0x00, 0x01]).is_err());
    }
}
