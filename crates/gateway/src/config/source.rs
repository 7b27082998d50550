//! Reading a TOML document with a span on every key and value, and turning
//! spans into `file:line:col` diagnostics.
//!
//! Every reader here reports its own type errors into a [`Cx`] and returns
//! `None`, so one pass over the file collects every problem instead of
//! stopping at the first (the point of `ikegw check`).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A byte range in one source file.
pub(crate) type Span = Range<usize>;

/// How bad a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    /// The configuration is used, but probably not as meant.
    Warning,
    /// The configuration cannot be used.
    Error,
}

/// One problem found in a configuration file, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Diagnostic {
    /// The file the problem is in.
    pub(crate) path: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub(crate) line: usize,
    /// 1-based column, counted in characters.
    pub(crate) col: usize,
    /// Error or warning.
    pub(crate) severity: Severity,
    /// What is wrong, and where possible how to fix it.
    pub(crate) message: String,
    /// Byte offset, to sort diagnostics in file order.
    pub(crate) offset: usize,
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: message`, `warning: ` before warnings; a problem with
    /// the whole file prints as `file: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.col)?;
        }
        f.write_str(": ")?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

/// One source file: its name, its text, and where each line starts.
pub(crate) struct Source {
    path: PathBuf,
    text: String,
    line_starts: Vec<usize>,
}

impl Source {
    pub(crate) fn new(path: &Path, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i.saturating_add(1)));
        Self {
            path: path.to_owned(),
            text,
            line_starts,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and character column of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = line
            .checked_sub(1)
            .and_then(|i| self.line_starts.get(i))
            .copied()
            .unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            .saturating_add(1);
        (line.max(1), col)
    }

    /// The byte offset of a 1-based line and character column, if inside the text.
    pub(crate) fn offset_of(&self, line: usize, col: usize) -> Option<usize> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let rest = self.text.get(start..)?;
        let skip = col.checked_sub(1)?;
        Some(start.saturating_add(rest.char_indices().nth(skip).map_or(rest.len(), |(i, _)| i)))
    }

    pub(crate) fn diagnostic(
        &self,
        span: &Span,
        severity: Severity,
        message: String,
    ) -> Diagnostic {
        let (line, col) = self.position(span.start);
        Diagnostic {
            path: self.path.clone(),
            line,
            col,
            severity,
            message,
            offset: span.start,
        }
    }

    /// A diagnostic about the file as a whole (permissions, unreadable).
    pub(crate) fn file_diagnostic(path: &Path, severity: Severity, message: String) -> Diagnostic {
        Diagnostic {
            path: path.to_owned(),
            line: 0,
            col: 0,
            severity,
            message,
            offset: 0,
        }
    }
}

/// Collects diagnostics while one file is read.
pub(crate) struct Cx<'s> {
    pub(crate) src: &'s Source,
    pub(crate) diags: Vec<Diagnostic>,
    /// Tables that could not be read (`pools.rw`, `secrets.include`), so
    /// that cross-checks do not report their absence as a second error.
    pub(crate) failed: Vec<String>,
}

impl<'s> Cx<'s> {
    pub(crate) fn new(src: &'s Source) -> Self {
        Self {
            src,
            diags: Vec::new(),
            failed: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, span: &Span, message: impl Into<String>) {
        let d = self.src.diagnostic(span, Severity::Error, message.into());
        self.diags.push(d);
    }

    pub(crate) fn warn(&mut self, span: &Span, message: impl Into<String>) {
        let d = self.src.diagnostic(span, Severity::Warning, message.into());
        self.diags.push(d);
    }

    /// Relative paths in a file are relative to that file's directory, as
    /// swanctl's are relative to its configuration directory.
    pub(crate) fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.src
                .path()
                .parent()
                .unwrap_or_else(|| Path::new(""))
                .join(p)
        }
    }
}

/// A value and the span it came from.
pub(crate) type Val<'i> = Spanned<DeValue<'i>>;

/// The name of a TOML value's type, as people say it.
pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Where a value sits, for messages: `'rekey_time' in connections.branch`.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub(crate) key: &'a str,
    pub(crate) table: &'a str,
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.table.is_empty() {
            write!(f, "'{}'", self.key)
        } else {
            write!(f, "'{}' in {}", self.key, self.table)
        }
    }
}

fn expected(cx: &mut Cx<'_>, v: &Val<'_>, at: At<'_>, what: &str) {
    cx.error(
        &v.span(),
        format!("expected {what} for {at}, found {}", type_name(v.get_ref())),
    );
}

/// A string value.
pub(crate) fn string<'v>(cx: &mut Cx<'_>, v: &'v Val<'_>, at: At<'_>) -> Option<&'v str> {
    if let DeValue::String(s) = v.get_ref() {
        Some(s.as_ref())
    } else {
        expected(cx, v, at, "a string");
        None
    }
}

/// An integer in `lo..=hi`.
pub(crate) fn integer(cx: &mut Cx<'_>, v: &Val<'_>, at: At<'_>, lo: i64, hi: i64) -> Option<i64> {
    let DeValue::Integer(i) = v.get_ref() else {
        expected(cx, v, at, "an integer");
        return None;
    };
    match i64::from_str_radix(i.as_str(), i.radix()) {
        Ok(n) if (lo..=hi).contains(&n) => Some(n),
        _ => {
            cx.error(&v.span(), format!("{at} must be between {lo} and {hi}"));
            None
        }
    }
}

/// A yes/no value: a TOML boolean, or swanctl's `yes`/`no` spelled as a string.
pub(crate) fn boolean(cx: &mut Cx<'_>, v: &Val<'_>, at: At<'_>) -> Option<bool> {
    match v.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        DeValue::String(s) if s == "yes" => Some(true),
        DeValue::String(s) if s == "no" => Some(false),
        DeValue::String(s) => {
            cx.error(
                &v.span(),
                format!("invalid value '{s}' for {at}; expected true or false"),
            );
            None
        }
        _ => {
            expected(cx, v, at, "true or false");
            None
        }
    }
}

/// One of a closed set of keywords.
pub(crate) fn keyword<T: Copy>(
    cx: &mut Cx<'_>,
    v: &Val<'_>,
    at: At<'_>,
    choices: &[(&str, T)],
) -> Option<T> {
    let names = || {
        choices
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let s = match v.get_ref() {
        DeValue::String(s) => s.as_ref(),
        // `mobike = true` style for yes/no keywords.
        DeValue::Boolean(true) => "yes",
        DeValue::Boolean(false) => "no",
        _ => {
            expected(cx, v, at, &format!("one of {}", names()));
            return None;
        }
    };
    if let Some((_, t)) = choices.iter().find(|(n, _)| *n == s) {
        return Some(*t);
    }
    let hint = did_you_mean(s, choices.iter().map(|(n, _)| *n)).map_or_else(
        || format!("; expected one of {}", names()),
        |m| format!("; did you mean '{m}'?"),
    );
    cx.error(&v.span(), format!("invalid value '{s}' for {at}{hint}"));
    None
}

/// A list of strings: a TOML array of strings, or swanctl's comma-separated
/// string. Each item comes with its own span when the array form is used.
pub(crate) fn string_list(cx: &mut Cx<'_>, v: &Val<'_>, at: At<'_>) -> Option<Vec<(String, Span)>> {
    match v.get_ref() {
        DeValue::String(s) => Some(
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| (s.to_owned(), v.span()))
                .collect(),
        ),
        DeValue::Array(items) => {
            let mut out = Vec::new();
            let mut ok = true;
            for item in items {
                if let DeValue::String(s) = item.get_ref() {
                    out.push((s.trim().to_owned(), item.span()));
                } else {
                    expected(cx, item, at, "a string in the list");
                    ok = false;
                }
            }
            ok.then_some(out)
        }
        _ => {
            expected(cx, v, at, "a string or an array of strings");
            None
        }
    }
}

/// A duration as swanctl writes them: `30s`, `5m`, `4h`, `1d`, or plain
/// seconds (a TOML integer or a string of digits).
pub(crate) fn duration(cx: &mut Cx<'_>, v: &Val<'_>, at: At<'_>) -> Option<Duration> {
    let text = match v.get_ref() {
        DeValue::Integer(_) => {
            return integer(cx, v, at, 0, i64::from(u32::MAX)).map(|n| secs(n.unsigned_abs()))
        }
        DeValue::String(s) => s.as_ref(),
        _ => {
            expected(cx, v, at, "a duration (e.g. 30s, 4h, 1d)");
            return None;
        }
    };
    let parsed = parse_duration(text);
    if parsed.is_none() {
        cx.error(
            &v.span(),
            format!("invalid duration '{text}' for {at}; expected e.g. 30s, 5m, 4h or 1d"),
        );
    }
    parsed
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `30s`, `5m`, `4h`, `1d`, `90` (seconds).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (t.get(..i)?, t.get(i..)?.trim()),
        None => (t, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let mult: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
        .filter(|&s| s <= u64::from(u32::MAX))
        .map(secs)
}

/// A byte or packet count as swanctl writes them: plain, or with a `k`, `m`
/// or `g` suffix (powers of 1024, as strongSwan reads them).
pub(crate) fn count(cx: &mut Cx<'_>, v: &Val<'_>, at: At<'_>) -> Option<u64> {
    let text = match v.get_ref() {
        DeValue::Integer(_) => return integer(cx, v, at, 0, i64::MAX).map(i64::unsigned_abs),
        DeValue::String(s) => s.as_ref(),
        _ => {
            expected(cx, v, at, "a count (e.g. 500000, 100m, 1g)");
            return None;
        }
    };
    let parsed = parse_count(text);
    if parsed.is_none() {
        cx.error(
            &v.span(),
            format!("invalid count '{text}' for {at}; expected e.g. 500000, 100k, 100m or 1g"),
        );
    }
    parsed
}

pub(crate) fn parse_count(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, mult) = match t.strip_suffix(['k', 'K']) {
        Some(d) => (d, 1u64 << 10),
        None => match t.strip_suffix(['m', 'M']) {
            Some(d) => (d, 1 << 20),
            None => match t.strip_suffix(['g', 'G']) {
                Some(d) => (d, 1 << 30),
                None => (t, 1),
            },
        },
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// The table in `v`, or a type error.
pub(crate) fn table<'v, 'i>(
    cx: &mut Cx<'_>,
    v: &'v Val<'i>,
    at: At<'_>,
) -> Option<&'v DeTable<'i>> {
    if let DeValue::Table(t) = v.get_ref() {
        Some(t)
    } else {
        expected(cx, v, at, "a table");
        None
    }
}

/// Levenshtein distance, for did-you-mean hints on typos.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len().saturating_add(1)];
    for (i, ca) in a.chars().enumerate() {
        if let Some(c0) = cur.first_mut() {
            *c0 = i.saturating_add(1);
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev
                .get(j)
                .copied()
                .unwrap_or(0)
                .saturating_add(usize::from(ca != *cb));
            let del = prev
                .get(j.saturating_add(1))
                .copied()
                .unwrap_or(0)
                .saturating_add(1);
            let ins = cur.get(j).copied().unwrap_or(0).saturating_add(1);
            if let Some(c) = cur.get_mut(j.saturating_add(1)) {
                *c = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

/// The closest candidate to `word`, if it is close enough to be a typo:
/// at most two edits, or a third of the word for long ones.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Report every key of `t` that is not in `known`. Keys swanctl has but we
/// do not get their own message, so a translated config says what to drop.
pub(crate) fn check_keys(
    cx: &mut Cx<'_>,
    t: &DeTable<'_>,
    table: &str,
    known: &[&str],
    unsupported: &[(&str, &str)],
    also_ok: impl Fn(&str) -> bool,
) {
    for (k, _) in t.iter() {
        let key = k.get_ref().as_ref();
        if known.contains(&key) || also_ok(key) {
            continue;
        }
        if let Some((_, why)) = unsupported.iter().find(|(u, _)| *u == key) {
            cx.error(
                &k.span(),
                format!("key '{key}' in {table} is not supported by ikegw: {why}"),
            );
            continue;
        }
        let msg = match did_you_mean(key, known.iter().copied()) {
            Some(m) => format!("unknown key '{key}' in {table}; did you mean '{m}'?"),
            None => format!("unknown key '{key}' in {table}"),
        };
        cx.error(&k.span(), msg);
    }
}

/// The value under `key`, if present.
pub(crate) fn get<'t, 'i>(t: &'t DeTable<'i>, key: &str) -> Option<&'t Val<'i>> {
    t.get(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_swanctl_syntax() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("4h"), Some(Duration::from_secs(14_400)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("99999999999d"), None);
    }

    #[test]
    fn counts_take_binary_suffixes() {
        assert_eq!(parse_count("100"), Some(100));
        assert_eq!(parse_count("2k"), Some(2048));
        assert_eq!(parse_count("1m"), Some(1 << 20));
        assert_eq!(parse_count("3G"), Some(3 << 30));
        assert_eq!(parse_count("1t"), None);
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("remote_addr", "remote_addrs"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            did_you_mean("proposal", ["proposals", "pools"].into_iter()),
            Some("proposals")
        );
        assert_eq!(
            did_you_mean("zzzzzz", ["proposals", "pools"].into_iter()),
            None
        );
    }

    #[test]
    fn positions_are_one_based_in_characters() {
        let src = Source::new(Path::new("f.toml"), "a = 1\nbé = \"x\"\n".to_owned());
        assert_eq!(src.position(0), (1, 1));
        assert_eq!(src.position(6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(src.position(10), (2, 4));
        assert_eq!(src.offset_of(2, 4), Some(10));
        assert_eq!(src.offset_of(1, 1), Some(0));
        assert_eq!(src.offset_of(9, 1), None);
    }
}
