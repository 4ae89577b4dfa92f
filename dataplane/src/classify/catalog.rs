//! The application catalog: which applications exist, their category, and the signatures that
//! name them (domains, substrings of names, IP prefixes, server ports), loaded from TOML.
//!
//! The file format is documented in `fixtures/catalog/README.md` and at the top of the default
//! catalog, `fixtures/catalog/apps.toml`, which is embedded in the binary. In short:
//!
//! ```toml
//! [[app]]
//! id = "discord"                 # snake_case, unique
//! name = "Discord"               # display name
//! category = "messaging"         # one of the 17 category names
//! domains = ["discord.com", "=status.example.com", "*.discord.media"]
//! substrings = ["discordapp"]    # >= 5 characters, matched anywhere in a name
//! ip_prefixes = ["162.159.128.0/19"]
//! ports = [443]
//! ```
//!
//! A plain domain matches the name and all its subdomains, `=name` only the name, `*.name` only
//! its subdomains. Loading checks everything and reports every problem at once, each with file,
//! line, column, app and field, so that a broken catalog is fixed in one pass. This module does
//! not match names; [`super::matcher`] does.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::domains::{Cover, MAX_NAME_LEN};
use super::{AppId, AppNames, Category};
use crate::input::InputError;
use crate::lines::LineIndex;

/// Shortest substring signature accepted: shorter ones match unrelated names.
pub const MIN_SUBSTRING_LEN: usize = 5;

/// The default catalog, compiled in.
const EMBEDDED: &str = include_str!("../../../fixtures/catalog/apps.toml");

/// How a catalog domain covers names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainRule {
    /// `example.com`: the name and all its subdomains.
    NameAndSubdomains(String),
    /// `=example.com`: only the name.
    Exact(String),
    /// `*.example.com`: only its subdomains.
    Subdomains(String),
}

impl DomainRule {
    /// The lower-case name without its `=` or `*.` marker.
    pub fn name(&self) -> &str {
        match self {
            DomainRule::NameAndSubdomains(n) | DomainRule::Exact(n) | DomainRule::Subdomains(n) => {
                n
            }
        }
    }

    pub(crate) fn cover(&self) -> Cover {
        match self {
            DomainRule::NameAndSubdomains(_) => Cover::Both,
            DomainRule::Exact(_) => Cover::Exact,
            DomainRule::Subdomains(_) => Cover::Subdomains,
        }
    }
}

/// An IP prefix in CIDR form, with no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl IpPrefix {
    /// Parse `addr/len` or a bare address (a /32 or /128). Host bits must be zero.
    pub fn parse(text: &str) -> Result<IpPrefix, String> {
        let (addr_text, len_text) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("`{addr_text}` is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len_text {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(|| format!("prefix length `{l}` is not a number in 0..={max}"))?,
        };
        let prefix = IpPrefix { addr, len };
        let masked = prefix.network();
        if masked != addr {
            return Err(format!(
                "`{text}` has host bits set; the network is {masked}/{len}"
            ));
        }
        Ok(prefix)
    }

    /// The address with the host bits cleared.
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(mask_v4(u32::from(a), self.len).into()),
            IpAddr::V6(a) => IpAddr::V6(mask_v6(u128::from(a), self.len).into()),
        }
    }

    /// Whether `ip` lies in the prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => mask_v4(u32::from(a), self.len) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(a)) => mask_v6(u128::from(a), self.len) == u128::from(net),
            _ => false,
        }
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// `addr` with all but the first `len` bits cleared.
pub(crate) fn mask_v4(addr: u32, len: u8) -> u32 {
    match len {
        0 => 0,
        l if l >= 32 => addr,
        l => addr & (u32::MAX << (32 - u32::from(l))),
    }
}

/// `addr` with all but the first `len` bits cleared.
pub(crate) fn mask_v6(addr: u128, len: u8) -> u128 {
    match len {
        0 => 0,
        l if l >= 128 => addr,
        l => addr & (u128::MAX << (128 - u32::from(l))),
    }
}

/// One application of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    /// Stable snake_case id used by policies (`"tiktok"`).
    pub id: String,
    /// Display name (`"TikTok"`).
    pub name: String,
    pub category: Category,
    pub domains: Vec<DomainRule>,
    /// Lower-case substrings matched anywhere in a name.
    pub substrings: Vec<String>,
    pub ip_prefixes: Vec<IpPrefix>,
    /// Server ports: they narrow `ip_prefixes` when both are given, else they are a signature
    /// of their own.
    pub ports: Vec<u16>,
}

/// One problem found in a catalog that parsed as TOML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    pub line: usize,
    pub column: usize,
    /// The app's id (or `#N` for the N-th app, from 1, when it has no usable id).
    pub app: String,
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for ValidationError {
    /// `LINE:COLUMN: field `FIELD` of app `APP`: MESSAGE` (the catalog error puts the file in
    /// front, as `file:line:column: ...`, the form of every file error).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: field `{}`", self.line, self.column, self.field)?;
        if self.app != "-" {
            write!(f, " of app `{}`", self.app)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read (or is a directory, or over the input cap). The error is in
    /// the message, not chained as a source, so that it is said once.
    #[error("{path}: cannot read the catalog: {error}")]
    Io { path: String, error: InputError },
    #[error("{path}:{line}:{column}: not UTF-8 text (byte {byte:#04x}); save the file as UTF-8")]
    NotUtf8 {
        path: String,
        line: usize,
        column: usize,
        byte: u8,
    },
    #[error("{source_name}:{line}:{column}: {message}")]
    Syntax {
        source_name: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "invalid catalog ({} error{}){}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
        ListErrors(source_name, errors)
    )]
    Invalid {
        source_name: String,
        errors: Vec<ValidationError>,
    },
}

/// Formats validation errors one per line, each as `file:line:column: ...`.
struct ListErrors<'a>(&'a str, &'a [ValidationError]);

impl fmt::Display for ListErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in self.1 {
            write!(f, "\n  {}:{e}", self.0)?;
        }
        Ok(())
    }
}

/// The loaded application catalog.
#[derive(Clone, Debug)]
pub struct Catalog {
    source: String,
    apps: Vec<App>,
    by_id: HashMap<String, AppId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    version: Option<Spanned<i64>>,
    #[serde(default)]
    app: Vec<Spanned<RawApp>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    id: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    category: Option<Spanned<String>>,
    #[serde(default)]
    domains: Vec<Spanned<String>>,
    #[serde(default)]
    substrings: Vec<Spanned<String>>,
    #[serde(default)]
    ip_prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    ports: Vec<Spanned<i64>>,
}

/// Checks a domain name's text form: letters, digits, `-` and `_`, non-empty labels of at most
/// 63 bytes, at most 253 bytes in all (RFC 1035 section 2.3.4; `_` is allowed because service
/// names use it).
pub(crate) fn check_domain(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty domain");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("domain longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label (two dots in a row, or a dot at the start)");
        }
        if label.len() > 63 {
            return Err("label longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("only letters, digits, `-`, `_` and dots are allowed");
        }
    }
    Ok(())
}

/// Collects validation errors with positions.
struct Problems<'t> {
    lines: &'t LineIndex<'t>,
    errors: Vec<ValidationError>,
}

impl Problems<'_> {
    fn push(&mut self, span: Range<usize>, app: &str, field: &'static str, message: String) {
        let (line, column) = self.lines.line_col(span.start);
        self.errors.push(ValidationError {
            line,
            column,
            app: app.to_string(),
            field,
            message,
        });
    }
}

/// Which app (and line) already claimed a signature.
struct Claim {
    app: String,
    line: usize,
}

impl Catalog {
    /// Parse and validate a catalog. `source` names it in errors (a path, or `"<embedded>"`).
    pub fn from_toml_str(text: &str, source: &str) -> Result<Catalog, CatalogError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((0, 0), |s| LineIndex::new(text).line_col(s.start));
            let at = e.span().map_or(0, |s| s.start);
            let message = crate::lines::toml_message(text, at, e.message().trim_end());
            let message = match e
                .span()
                .and_then(|s| crate::lines::toml_key_path(text, s.start))
            {
                Some(field) => format!("field `{field}`: {message}"),
                None => message,
            };
            CatalogError::Syntax {
                source_name: source.to_string(),
                line,
                column,
                message,
            }
        })?;
        let lines = LineIndex::new(text);
        let mut p = Problems {
            lines: &lines,
            errors: Vec::new(),
        };
        if let Some(v) = &raw.version {
            if *v.get_ref() != 1 {
                p.push(
                    v.span(),
                    "-",
                    "version",
                    format!(
                        "unsupported version {}; this build reads version 1",
                        v.get_ref()
                    ),
                );
            }
        }
        if raw.app.len() > usize::from(u16::MAX) {
            p.push(
                0..0,
                "-",
                "app",
                format!("{} apps; at most {} are supported", raw.app.len(), u16::MAX),
            );
        }

        let mut apps = Vec::with_capacity(raw.app.len());
        let mut by_id: HashMap<String, AppId> = HashMap::new();
        let mut id_lines: HashMap<String, usize> = HashMap::new();
        // Claims on signatures, to reject the same signature in two apps.
        let mut exact_claims: HashMap<String, Claim> = HashMap::new();
        let mut sub_claims: HashMap<String, Claim> = HashMap::new();
        let mut substring_claims: HashMap<String, Claim> = HashMap::new();
        let mut prefix_claims: HashMap<IpPrefix, Claim> = HashMap::new();

        for (index, spanned) in raw.app.iter().enumerate() {
            let table_span = spanned.span();
            let r = spanned.get_ref();
            let id_ok = r.id.as_ref().map(|s| s.get_ref().trim().to_string());
            let label = match &id_ok {
                Some(id) if !id.is_empty() => id.clone(),
                _ => format!("#{}", index + 1),
            };

            match &r.id {
                None => p.push(table_span.clone(), &label, "id", "missing".into()),
                Some(id) => {
                    let v = id.get_ref();
                    let valid = v.len() <= 64
                        && v.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                        && v.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                    if !valid {
                        p.push(
                            id.span(),
                            &label,
                            "id",
                            format!("`{v}` is not snake_case (a-z, 0-9, `_`, starting with a letter, at most 64)"),
                        );
                    } else if let Some(first) = id_lines.get(v) {
                        p.push(
                            id.span(),
                            &label,
                            "id",
                            format!("duplicate app id `{v}` (first at line {first})"),
                        );
                    } else {
                        let (line, _) = lines.line_col(id.span().start);
                        id_lines.insert(v.clone(), line);
                    }
                }
            }
            let name = match &r.name {
                None => {
                    p.push(table_span.clone(), &label, "name", "missing".into());
                    String::new()
                }
                Some(n) if n.get_ref().trim().is_empty() => {
                    p.push(n.span(), &label, "name", "empty display name".into());
                    String::new()
                }
                Some(n) => n.get_ref().trim().to_string(),
            };
            let category = match &r.category {
                None => {
                    p.push(table_span.clone(), &label, "category", "missing".into());
                    None
                }
                Some(c) => {
                    let found = Category::from_name(c.get_ref());
                    if found.is_none() {
                        let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                        p.push(
                            c.span(),
                            &label,
                            "category",
                            format!(
                                "unknown category `{}` (known: {})",
                                c.get_ref(),
                                known.join(", ")
                            ),
                        );
                    }
                    found
                }
            };

            let mut domains = Vec::with_capacity(r.domains.len());
            for d in &r.domains {
                let text_form = d.get_ref().trim();
                let (rule_kind, rest) = if let Some(rest) = text_form.strip_prefix('=') {
                    (Cover::Exact, rest)
                } else if let Some(rest) = text_form.strip_prefix("*.") {
                    (Cover::Subdomains, rest)
                } else {
                    (Cover::Both, text_form)
                };
                let normal = rest.strip_suffix('.').unwrap_or(rest).to_ascii_lowercase();
                if let Err(why) = check_domain(&normal) {
                    p.push(
                        d.span(),
                        &label,
                        "domains",
                        format!("`{}`: {why}", d.get_ref()),
                    );
                    continue;
                }
                let (line, _) = lines.line_col(d.span().start);
                let mut conflict = None;
                if matches!(rule_kind, Cover::Exact | Cover::Both) {
                    conflict = conflict.or_else(|| exact_claims.get(&normal));
                }
                if matches!(rule_kind, Cover::Subdomains | Cover::Both) {
                    conflict = conflict.or_else(|| sub_claims.get(&normal));
                }
                if let Some(c) = conflict {
                    p.push(
                        d.span(),
                        &label,
                        "domains",
                        format!(
                            "`{}` is already claimed by app `{}` (line {})",
                            d.get_ref(),
                            c.app,
                            c.line
                        ),
                    );
                    continue;
                }
                let claim = || Claim {
                    app: label.clone(),
                    line,
                };
                if matches!(rule_kind, Cover::Exact | Cover::Both) {
                    exact_claims.insert(normal.clone(), claim());
                }
                if matches!(rule_kind, Cover::Subdomains | Cover::Both) {
                    sub_claims.insert(normal.clone(), claim());
                }
                domains.push(match rule_kind {
                    Cover::Exact => DomainRule::Exact(normal),
                    Cover::Subdomains => DomainRule::Subdomains(normal),
                    Cover::Both => DomainRule::NameAndSubdomains(normal),
                });
            }

            let mut substrings = Vec::with_capacity(r.substrings.len());
            for s in &r.substrings {
                let normal = s.get_ref().trim().to_ascii_lowercase();
                let bad = if normal.len() < MIN_SUBSTRING_LEN {
                    Some(format!(
                        "`{}` is shorter than {MIN_SUBSTRING_LEN} characters and would match unrelated names",
                        s.get_ref()
                    ))
                } else if normal.len() > MAX_NAME_LEN {
                    // A longer one could never match a name, and would cost the matcher's
                    // build time that grows with the square of a repetitive pattern.
                    Some(format!(
                        "{} characters; a substring of a host name is at most {MAX_NAME_LEN}",
                        normal.len()
                    ))
                } else if !normal
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                {
                    Some(format!(
                        "`{}`: only letters, digits, `-`, `_` and dots are allowed",
                        s.get_ref()
                    ))
                } else {
                    substring_claims.get(&normal).map(|c| {
                        format!(
                            "`{}` is already claimed by app `{}` (line {})",
                            s.get_ref(),
                            c.app,
                            c.line
                        )
                    })
                };
                match bad {
                    Some(m) => p.push(s.span(), &label, "substrings", m),
                    None => {
                        let (line, _) = lines.line_col(s.span().start);
                        substring_claims.insert(
                            normal.clone(),
                            Claim {
                                app: label.clone(),
                                line,
                            },
                        );
                        substrings.push(normal);
                    }
                }
            }

            let mut ip_prefixes = Vec::with_capacity(r.ip_prefixes.len());
            for s in &r.ip_prefixes {
                match IpPrefix::parse(s.get_ref().trim()) {
                    Err(m) => p.push(s.span(), &label, "ip_prefixes", m),
                    Ok(prefix) => {
                        if let Some(c) = prefix_claims.get(&prefix) {
                            p.push(
                                s.span(),
                                &label,
                                "ip_prefixes",
                                format!(
                                    "`{prefix}` is already claimed by app `{}` (line {})",
                                    c.app, c.line
                                ),
                            );
                        } else {
                            let (line, _) = lines.line_col(s.span().start);
                            prefix_claims.insert(
                                prefix,
                                Claim {
                                    app: label.clone(),
                                    line,
                                },
                            );
                            ip_prefixes.push(prefix);
                        }
                    }
                }
            }

            let mut ports = Vec::with_capacity(r.ports.len());
            for s in &r.ports {
                match u16::try_from(*s.get_ref()).ok().filter(|&p| p != 0) {
                    Some(port) => ports.push(port),
                    None => p.push(
                        s.span(),
                        &label,
                        "ports",
                        format!("`{}` is not a port (1..=65535)", s.get_ref()),
                    ),
                }
            }

            if r.domains.is_empty()
                && r.substrings.is_empty()
                && r.ip_prefixes.is_empty()
                && r.ports.is_empty()
            {
                p.push(
                    table_span.clone(),
                    &label,
                    "domains",
                    "no signature: give at least one of domains, substrings, ip_prefixes, ports"
                        .into(),
                );
            }

            if let (Some(id), Some(category)) = (id_ok, category) {
                if !by_id.contains_key(&id) && apps.len() < usize::from(u16::MAX) {
                    by_id.insert(id.clone(), AppId(apps.len() as u16));
                    apps.push(App {
                        id,
                        name,
                        category,
                        domains,
                        substrings,
                        ip_prefixes,
                        ports,
                    });
                }
            }
        }

        if !p.errors.is_empty() {
            p.errors.sort_by_key(|e| (e.line, e.column));
            return Err(CatalogError::Invalid {
                source_name: source.to_string(),
                errors: p.errors,
            });
        }
        Ok(Catalog {
            source: source.to_string(),
            apps,
            by_id,
        })
    }

    /// Read and parse a catalog file.
    pub fn load(path: impl AsRef<Path>) -> Result<Catalog, CatalogError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let bytes = crate::input::read_toml(path).map_err(|error| CatalogError::Io {
            path: shown.clone(),
            error,
        })?;
        let text = crate::lines::utf8(&bytes).map_err(|bad| CatalogError::NotUtf8 {
            path: shown.clone(),
            line: bad.line,
            column: bad.column,
            byte: bad.byte,
        })?;
        Catalog::from_toml_str(text, &shown)
    }

    /// The default catalog compiled into the binary (`fixtures/catalog/apps.toml`).
    pub fn embedded_default() -> Result<Catalog, CatalogError> {
        Catalog::from_toml_str(EMBEDDED, "<embedded fixtures/catalog/apps.toml>")
    }

    /// Where the catalog came from, as given to the loader.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// All apps; an app's [`AppId`] is its index here.
    pub fn apps(&self) -> &[App] {
        &self.apps
    }

    pub fn app(&self, id: AppId) -> Option<&App> {
        self.apps.get(usize::from(id.0))
    }

    pub fn len(&self) -> usize {
        self.apps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// The categories that at least one app has, in [`Category::ALL`] order.
    pub fn categories_in_use(&self) -> Vec<Category> {
        Category::ALL
            .into_iter()
            .filter(|c| self.apps.iter().any(|a| a.category == *c))
            .collect()
    }

    /// `(AppId, &App)` pairs in catalog order.
    pub fn iter(&self) -> impl Iterator<Item = (AppId, &App)> + '_ {
        self.apps
            .iter()
            .enumerate()
            .map(|(i, a)| (AppId(i as u16), a))
    }
}

impl AppNames for Catalog {
    fn app_id(&self, id: &str) -> Option<AppId> {
        self.by_id.get(id).copied()
    }

    fn app_name(&self, app: AppId) -> Option<&str> {
        self.app(app).map(|a| a.name.as_str())
    }

    fn app_category(&self, app: AppId) -> Option<Category> {
        self.app(app).map(|a| a.category)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(text: &str) -> Vec<ValidationError> {
        match Catalog::from_toml_str(text, "test.toml") {
            Err(CatalogError::Invalid {
                errors,
                source_name,
            }) => {
                assert_eq!(source_name, "test.toml");
                errors
            }
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn embedded_default_has_150_apps_in_15_categories() {
        let c = Catalog::embedded_default().unwrap_or_else(|e| panic!("{e}"));
        assert!(c.len() >= 150, "only {} apps", c.len());
        let cats = c.categories_in_use();
        assert!(cats.len() >= 15, "only {} categories: {cats:?}", cats.len());
        let tiktok = c.app_id("tiktok").expect("tiktok in the default catalog");
        assert_eq!(c.app_name(tiktok), Some("TikTok"));
        assert!(c.app_category(tiktok).is_some());
        for a in c.apps() {
            for s in &a.substrings {
                assert!(s.len() >= MIN_SUBSTRING_LEN, "{}: {s}", a.id);
            }
        }
    }

    #[test]
    fn parses_all_fields_and_domain_forms() {
        let c = Catalog::from_toml_str(
            r#"
version = 1
[[app]]
id = "demo"
name = "Demo"
category = "social"
domains = ["Demo.COM.", "=exact.demo.net", "*.cdn.demo.net"]
substrings = ["DemoCDN"]
ip_prefixes = ["10.1.0.0/16", "2001:db8::/32", "192.0.2.1"]
ports = [443, 8443]
"#,
            "t",
        )
        .unwrap();
        let a = c.app(AppId(0)).unwrap();
        assert_eq!(a.category, Category::Social);
        assert_eq!(
            a.domains,
            vec![
                DomainRule::NameAndSubdomains("demo.com".into()),
                DomainRule::Exact("exact.demo.net".into()),
                DomainRule::Subdomains("cdn.demo.net".into()),
            ]
        );
        assert_eq!(a.substrings, vec!["democdn".to_string()]);
        assert_eq!(a.ip_prefixes.len(), 3);
        assert_eq!(a.ip_prefixes[2].len, 32);
        assert_eq!(a.ports, vec![443, 8443]);
        assert_eq!(c.app_id("demo"), Some(AppId(0)));
        assert_eq!(c.app_id("nope"), None);
        assert_eq!(c.app_name(AppId(1)), None);
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let text = "[[app]]\nid = \"a\"\nname = \"A\"\ncategory = \"social\"\ndomains = [\"a.com\",\n  oops]\n";
        match Catalog::from_toml_str(text, "cat.toml") {
            Err(CatalogError::Syntax {
                source_name, line, ..
            }) => {
                assert_eq!(source_name, "cat.toml");
                assert_eq!(line, 6);
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn unknown_field_is_a_syntax_error_with_its_line() {
        let text =
            "[[app]]\nid = \"a\"\nname = \"A\"\ncategory = \"social\"\ndomain = [\"a.com\"]\n";
        let err = Catalog::from_toml_str(text, "cat.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("cat.toml:5:"), "{msg}");
        assert!(msg.contains("domain"), "{msg}");
    }

    #[test]
    fn all_validation_errors_are_collected_with_lines() {
        let text = r#"[[app]]
id = "one"
name = "One"
category = "sociall"
domains = ["one.com", ""]

[[app]]
id = "one"
name = "One again"
category = "video"
domains = ["two.com"]
ip_prefixes = ["10.0.0.1/8", "300.1.1.1"]
substrings = ["fb"]
ports = [70000]

[[app]]
id = "three"
name = "Three"
category = "video"
domains = ["ONE.com", "bad..name"]
"#;
        let errors = invalid(text);
        let found: Vec<(usize, &str, &str)> = errors
            .iter()
            .map(|e| (e.line, e.app.as_str(), e.field))
            .collect();
        assert_eq!(
            found,
            vec![
                (4, "one", "category"),
                (5, "one", "domains"),
                (8, "one", "id"),
                (12, "one", "ip_prefixes"),
                (12, "one", "ip_prefixes"),
                (13, "one", "substrings"),
                (14, "one", "ports"),
                (20, "three", "domains"),
                (20, "three", "domains"),
            ],
            "{errors:#?}"
        );
        assert!(errors[0].message.contains("unknown category `sociall`"));
        assert!(errors[1].message.contains("empty domain"));
        assert!(errors[2]
            .message
            .contains("duplicate app id `one` (first at line 2)"));
        assert!(errors[3].message.contains("host bits"));
        assert!(errors[7].message.contains("already claimed by app `one`"));
        let shown = CatalogError::Invalid {
            source_name: "test.toml".into(),
            errors,
        }
        .to_string();
        assert!(shown.starts_with("invalid catalog (9 errors)\n"), "{shown}");
        assert!(
            shown.contains("\n  test.toml:4:12: field `category` of app `one`: unknown category"),
            "{shown}"
        );
    }

    #[test]
    fn substring_longer_than_a_host_name_is_refused_and_a_long_one_loads_fast() {
        let long = "ab".repeat(50_000);
        let text = format!(
            "[[app]]\nid = \"x\"\nname = \"X\"\ncategory = \"video\"\nsubstrings = [\"{long}\"]\n"
        );
        let start = std::time::Instant::now();
        let errors = invalid(&text);
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!((errors[0].line, errors[0].field), (5, "substrings"));
        assert!(
            errors[0]
                .message
                .contains("100000 characters; a substring of a host name is at most 253"),
            "{}",
            errors[0].message
        );
        // 253 characters pass.
        let fits = "ab".repeat(126) + "a";
        let text = format!(
            "[[app]]\nid = \"x\"\nname = \"X\"\ncategory = \"video\"\nsubstrings = [\"{fits}\"]\n"
        );
        let catalog = Catalog::from_toml_str(&text, "t").unwrap();
        assert_eq!(catalog.apps()[0].substrings, vec![fits]);
    }

    #[test]
    fn missing_fields_and_missing_signatures_are_reported() {
        let errors = invalid(
            "[[app]]\nname = \"X\"\n\n[[app]]\nid = \"y\"\nname = \"Y\"\ncategory = \"news\"\n",
        );
        let fields: Vec<(&str, &str)> = errors.iter().map(|e| (e.app.as_str(), e.field)).collect();
        assert_eq!(
            fields,
            vec![
                ("#1", "id"),
                ("#1", "category"),
                ("#1", "domains"),
                ("y", "domains")
            ]
        );
    }

    #[test]
    fn exact_and_subdomain_forms_of_one_name_may_belong_to_two_apps() {
        let text = r#"[[app]]
id = "a"
name = "A"
category = "news"
domains = ["=x.com"]
[[app]]
id = "b"
name = "B"
category = "news"
domains = ["*.x.com"]
[[app]]
id = "c"
name = "C"
category = "news"
domains = ["x.com"]
"#;
        let errors = invalid(text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].app.as_str(), errors[0].line), ("c", 15));
    }

    #[test]
    fn ip_prefix_parsing() {
        assert_eq!(
            IpPrefix::parse("149.154.160.0/20").unwrap().to_string(),
            "149.154.160.0/20"
        );
        assert!(IpPrefix::parse("149.154.160.1/20").is_err());
        assert!(IpPrefix::parse("1.2.3.4/33").is_err());
        assert!(IpPrefix::parse("2001:db8::/129").is_err());
        assert!(IpPrefix::parse("nope").is_err());
        let p = IpPrefix::parse("2001:67c:4e8::/48").unwrap();
        assert!(p.contains("2001:67c:4e8:f002::a".parse().unwrap()));
        assert!(!p.contains("2001:67c:4e9::1".parse().unwrap()));
        assert!(!p.contains("1.2.3.4".parse().unwrap()));
        assert!(IpPrefix::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }
}
