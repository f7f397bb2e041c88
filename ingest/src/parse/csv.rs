//! CSV and TSV: each row becomes one line of `column: value` pairs, so a chunk of rows keeps
//! the meaning of every value even without the header line.

use super::Section;
use crate::error::{Error, Result};

pub fn parse(text: &str, delimiter: u8, budget: &mut super::Budget) -> Result<Vec<Section>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::Encoding(format!("malformed csv: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut body = String::new();
    for record in reader.records() {
        let record = record.map_err(|e| Error::Encoding(format!("malformed csv: {e}")))?;
        let pairs: Vec<String> = record
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(i, v)| match headers.get(i).filter(|h| !h.is_empty()) {
                Some(h) => format!("{h}: {}", v.trim()),
                None => v.trim().to_string(),
            })
            .collect();
        if !pairs.is_empty() {
            let line = pairs.join("; ");
            budget.spend(line.len() + 1)?;
            body.push_str(&line);
            body.push('\n');
        }
    }
    Ok(vec![Section {
        page: None,
        headings: Vec::new(),
        text: body,
        ..Section::default()
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_column_names() {
        let limits = super::super::ParseLimits::default();
        let mut budget = super::super::Budget::new(&limits);
        let s = parse(
            "model,params,bits\ndeepseek-r1,14b,4\n\"qwen, chat\",7b,8\n",
            b',',
            &mut budget,
        )
        .unwrap();
        assert_eq!(
            s[0].text,
            "model: deepseek-r1; params: 14b; bits: 4\nmodel: qwen, chat; params: 7b; bits: 8\n"
        );
        let t = parse("a\tb\n1\t2\n", b'\t', &mut budget).unwrap();
        assert_eq!(t[0].text, "a: 1; b: 2\n");
    }
}
