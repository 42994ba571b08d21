//! Byte offsets → lines and key paths, for error messages.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::PolicyError;

/// The policy text and its file name, used to place errors.
pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// 1-based (line, column) of byte `offset` (clamped to the text).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// 1-based line of a span's start.
    pub fn line(&self, span: &Range<usize>) -> usize {
        self.line_col(span.start).0
    }

    /// An [`PolicyError::Invalid`] at `span`.
    pub fn invalid(
        &self,
        span: &Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> PolicyError {
        PolicyError::Invalid {
            file: self.file.to_owned(),
            line: self.line(span),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// A [`PolicyError::Conflict`] between `span`/`key` and an earlier place.
    pub fn conflict(
        &self,
        span: &Range<usize>,
        key: &str,
        message: impl Into<String>,
        other_span: &Range<usize>,
        other_key: &str,
    ) -> PolicyError {
        PolicyError::Conflict {
            file: self.file.to_owned(),
            line: self.line(span),
            key: key.to_owned(),
            message: message.into(),
            other_line: self.line(other_span),
            other_key: other_key.to_owned(),
        }
    }
}

/// Appends `key` to a dotted path, quoting it if it is not a bare TOML key.
pub fn join_key(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_owned()
    } else {
        crate::effective::quote(key)
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// A node of the parsed document: its key path, key span and value.
struct Node<'d, 'i> {
    path: String,
    depth: usize,
    key_span: Option<Range<usize>>,
    value: &'d Spanned<DeValue<'i>>,
}

fn collect<'d, 'i>(
    table: &'d DeTable<'i>,
    parent: &str,
    depth: usize,
    out: &mut Vec<Node<'d, 'i>>,
) {
    for (key, value) in table.iter() {
        let path = join_key(parent, key.get_ref());
        out.push(Node {
            path: path.clone(),
            depth,
            key_span: Some(key.span()),
            value,
        });
        collect_value(value, &path, depth + 1, out);
    }
}

fn collect_value<'d, 'i>(
    value: &'d Spanned<DeValue<'i>>,
    path: &str,
    depth: usize,
    out: &mut Vec<Node<'d, 'i>>,
) {
    match value.get_ref() {
        DeValue::Table(table) => collect(table, path, depth, out),
        DeValue::Array(array) => {
            for (i, element) in array.iter().enumerate() {
                let element_path = format!("{path}[{i}]");
                out.push(Node {
                    path: element_path.clone(),
                    depth,
                    key_span: None,
                    value: element,
                });
                collect_value(element, &element_path, depth + 1, out);
            }
        }
        _ => {}
    }
}

fn contains(outer: &Range<usize>, offset: usize) -> bool {
    outer.start <= offset && offset < outer.end.max(outer.start + 1)
}

/// What the document holds at an error span: the key path and, when the
/// span is a value, that value.
pub struct Found<'d, 'i> {
    pub path: String,
    pub value: Option<&'d DeValue<'i>>,
}

/// Finds the key path (and value) an error span from the deserializer
/// points at: an exact key or value span if there is one, else the deepest
/// node containing the span's start.
pub fn find<'d, 'i>(doc: &'d DeTable<'i>, span: &Range<usize>) -> Found<'d, 'i> {
    let mut nodes = Vec::new();
    collect(doc, "", 0, &mut nodes);
    // Exact matches, deepest (last collected) first.
    for node in nodes.iter().rev() {
        if node.key_span.as_ref() == Some(span) {
            return Found {
                path: node.path.clone(),
                value: Some(node.value.get_ref()),
            };
        }
        if &node.value.span() == span {
            return Found {
                path: node.path.clone(),
                value: Some(node.value.get_ref()),
            };
        }
    }
    let mut best: Option<&Node<'_, '_>> = None;
    for node in &nodes {
        let hit = contains(&node.value.span(), span.start)
            || node
                .key_span
                .as_ref()
                .is_some_and(|k| contains(k, span.start));
        if hit && !best.is_some_and(|b| b.depth > node.depth) {
            best = Some(node);
        }
    }
    Found {
        path: best.map(|n| n.path.clone()).unwrap_or_default(),
        value: None,
    }
}

/// Describes a value for "found ..." in messages: strings quoted, others
/// with their TOML type.
pub fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => crate::effective::quote(s),
        DeValue::Integer(i) => format!("integer {i}"),
        DeValue::Float(f) => format!("float {}", f.as_str()),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(d) => format!("datetime {d}"),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}
