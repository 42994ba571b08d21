//! Text → [`Policy`]: TOML syntax, then the serde schema, then validation.
//! Errors from the first two steps are mapped to file, line and key path.

use toml::de::DeTable;

use crate::error::PolicyError;
use crate::location::{describe, find, join_key, Source};
use crate::schema::RawPolicy;
use crate::validate::validate;
use crate::Policy;

/// Parses and validates `text`; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Policy, PolicyError> {
    let src = Source { file, text };
    let doc = DeTable::parse(text).map_err(|e| syntax_error(&src, &e))?;
    let raw: RawPolicy = toml::from_str(text).map_err(|e| schema_error(&src, doc.get_ref(), &e))?;
    validate(raw, &src)
}

fn syntax_error(src: &Source<'_>, error: &toml::de::Error) -> PolicyError {
    let (line, col) = src.line_col(error.span().map_or(0, |s| s.start));
    PolicyError::Syntax {
        file: src.file.to_owned(),
        line,
        col,
        message: error.message().trim().to_owned(),
    }
}

/// Maps a serde error (wrong type, unknown key, missing key) to `Invalid`.
fn schema_error(src: &Source<'_>, doc: &DeTable<'_>, error: &toml::de::Error) -> PolicyError {
    let span = error.span().unwrap_or(0..0);
    let found = find(doc, &span);
    let message = error.message().trim();
    let (key, message) = if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = expected
            .trim_start_matches(", expected ")
            .trim_start_matches("one of ")
            .replace('`', "")
            .replace(" or ", ", ");
        let message = if expected.is_empty() || expected.starts_with(", there are no fields") {
            format!("unknown key {}", crate::effective::quote(name))
        } else {
            format!(
                "unknown key {} (expected one of: {expected})",
                crate::effective::quote(name)
            )
        };
        (found.path, message)
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        (
            join_key(&found.path, name),
            "required key is missing".to_owned(),
        )
    } else if let Some((unexpected, expected)) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected "))
    {
        let found_text = found
            .value
            .map_or_else(|| plain_unexpected(unexpected), describe);
        (
            found.path,
            format!("expected {}, found {found_text}", plain_expected(expected)),
        )
    } else {
        (found.path, message.to_owned())
    };
    let key = if key.is_empty() {
        "(top level)".to_owned()
    } else {
        key
    };
    src.invalid(&span, &key, message)
}

/// Serde's "expected" phrases in policy-file words.
fn plain_expected(expected: &str) -> &str {
    match expected {
        "a sequence" => "an array",
        "a map" => "a table",
        "i64" | "u64" | "u32" | "i32" | "usize" => "an integer",
        e if e.starts_with("struct ") => "a table",
        e => e,
    }
}

/// Serde's "invalid type: ..." phrases in policy-file words (used only when
/// the value itself could not be located in the document).
fn plain_unexpected(unexpected: &str) -> String {
    match unexpected {
        "map" => "a table".to_owned(),
        "sequence" => "an array".to_owned(),
        other => match other.strip_prefix("string ") {
            Some(quoted) => quoted.to_owned(),
            None => other.replace('`', ""),
        },
    }
}
