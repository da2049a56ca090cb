//! The node's full-text index of configuration items: a second tantivy index in
//! `<search dir>/ci/v<CI_SCHEMA_VERSION>`, next to the ticket index and independent of it
//! (its own writer lock, feed cursor and rebuild), with the same tokenizers.
//!
//! Fields: the name (jieba words and bigrams, ranked highest), the external key whole
//! (lower case; an exact key ranks first), the other texts (class, location, vendor,
//! attributes, owner names: jieba words and bigrams), the IP addresses found in any of them
//! (whole, canonical: `10.1.2.3`, `2001:db8::1`, and CIDR blocks as `10.1.2.0/24` and their
//! address) and the filters (organization, class, status).
//!
//! A query's whitespace-separated parts must all match. A part is matched as in the ticket
//! index (jieba words when the index knows them all, else bigrams as a phrase with the last
//! one as a prefix), or as the whole external key; a complete IP address or CIDR block only
//! as an address (so `10.1.2.3` does not find `10.1.2.30`); the start of an address
//! (`10.1.2`, `10.1.`, `fe80:`) also as the start of any indexed address.
//!
//! Measured on 100,000 generated items (release build, SQLite, this 2-core machine; the
//! ignored test `measure_index_build_and_query_latency` in crates/web/tests/cmdb_search.rs):
//! built from the database in 4.2 s, 25 MB on disk; a query through the service (index, the
//! scope check in SQL, loading the page of 50) 1–3 ms at p50 and under 10 ms at p99.

use std::net::IpAddr;
use std::path::Path;

use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhrasePrefixQuery, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, STORED, STRING,
};
use tantivy::{Searcher, TantivyDocument, Term};
use uuid::Uuid;
use yunwei_service::ci_search::{CiDoc, CiIndex, CiSearchRequest};
use yunwei_service::search::IndexError;

use crate::tokenize::{BIGRAM, JIEBA};
use crate::{filter, text_query, OpenError, Store, WordFields};

/// Bump when the schema or what is indexed changes: the CI index is then rebuilt.
pub const CI_SCHEMA_VERSION: u32 = 1;

/// The indexing buffer: items are small, a smaller buffer than the tickets' keeps a node's
/// memory small (tantivy's minimum is 15 MB).
const WRITER_MEMORY_BYTES: usize = 20_000_000;
/// Whitespace-separated parts of a query taken.
const MAX_QUERY_PARTS: usize = 8;
/// Deepest result taken (offset + limit).
const MAX_RESULTS: usize = 10_000;
/// Boosts: a name word counts three times another text's, an exact external key or address
/// more than any word.
const NAME_BOOST: f32 = 3.0;
const KEY_BOOST: f32 = 5.0;
const IP_BOOST: f32 = 4.0;
const IP_PREFIX_BOOST: f32 = 2.0;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    /// The external key, trimmed and lower case, for exact look-ups.
    key_raw: Field,
    name_j: Field,
    name_b: Field,
    text_j: Field,
    text_b: Field,
    /// IP addresses and CIDR blocks, canonical.
    ip: Field,
    org: Field,
    class: Field,
    status: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let jieba = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(JIEBA)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let bigram = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(BIGRAM)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let f = Fields {
        id: b.add_text_field("id", STRING | STORED),
        key_raw: b.add_text_field("key_raw", STRING),
        name_j: b.add_text_field("name_j", jieba.clone()),
        name_b: b.add_text_field("name_b", bigram.clone()),
        text_j: b.add_text_field("text_j", jieba),
        text_b: b.add_text_field("text_b", bigram),
        ip: b.add_text_field("ip", STRING),
        org: b.add_text_field("org", STRING),
        class: b.add_text_field("class", STRING),
        status: b.add_text_field("status", STRING),
    };
    (b.build(), f)
}

/// An IP address or CIDR block (`addr/len`) in canonical form, or None.
fn canonical_ip(s: &str) -> Option<String> {
    match s.split_once('/') {
        None => s.parse::<IpAddr>().ok().map(|ip| ip.to_string()),
        Some((addr, len)) => {
            let ip = addr.trim().parse::<IpAddr>().ok()?;
            let len = len.trim().parse::<u8>().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            (len <= max).then(|| format!("{ip}/{len}"))
        }
    }
}

/// The IP addresses and CIDR blocks in a text, canonical (a block also as its address).
pub fn ip_values(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let pieces = text.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':' || c == '/'));
    for p in pieces {
        if p.len() < 3 || !(p.contains('.') || p.contains(':')) {
            continue;
        }
        // As written or without the punctuation around it ("ip:10.1.2.3."), maybe with a
        // port.
        let ip = [p, p.trim_matches(['.', ':'])].into_iter().find_map(|p| {
            canonical_ip(p).or_else(|| {
                p.parse::<std::net::SocketAddr>()
                    .ok()
                    .map(|a| a.ip().to_string())
            })
        });
        if let Some(ip) = ip {
            if let Some((addr, _)) = ip.split_once('/') {
                out.push(addr.to_string());
            }
            out.push(ip);
        }
    }
    out
}

/// How a query part reads as an address.
#[derive(Debug, PartialEq, Eq)]
enum IpPart {
    /// A complete address or CIDR block (canonical).
    Whole(String),
    /// The start of one: digits and dots with a dot (`10.1.2`, `10.1.`), or hex digits and
    /// colons with a colon (`fe80:`).
    Start(String),
}

fn ip_part(part: &str) -> Option<IpPart> {
    if let Some(ip) = canonical_ip(part) {
        return Some(IpPart::Whole(ip));
    }
    let v4 = part.contains('.') && part.chars().all(|c| c.is_ascii_digit() || c == '.');
    let v6 = part.contains(':') && part.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
    let digit = part.chars().any(|c| c.is_ascii_digit());
    ((v4 || v6) && digit && !part.starts_with(['.', ':']))
        .then(|| IpPart::Start(part.to_ascii_lowercase()))
}

/// A node's CI index in `<dir>/ci`.
pub struct CiSearchIndex {
    ix: Store,
    f: Fields,
}

impl CiSearchIndex {
    /// Open the CI index of the search directory `dir` (in `dir/ci`; created if missing, an
    /// index of another schema version there is removed). Takes its writer lock.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        let (schema, f) = schema();
        Ok(Self {
            ix: Store::open(
                &dir.join("ci"),
                CI_SCHEMA_VERSION,
                schema,
                WRITER_MEMORY_BYTES,
            )?,
            f,
        })
    }

    /// Where the index files are.
    pub fn path(&self) -> &Path {
        &self.ix.dir
    }

    /// Documents in the committed index.
    pub fn num_docs(&self) -> u64 {
        self.ix.searcher().num_docs()
    }

    fn document(&self, d: &CiDoc) -> TantivyDocument {
        let f = self.f;
        let mut t = TantivyDocument::default();
        t.add_text(f.id, d.id.to_string());
        t.add_text(f.key_raw, d.external_key.trim().to_lowercase());
        t.add_text(f.name_j, &d.name);
        t.add_text(f.name_b, &d.name);
        // The key also as words and bigrams: found by its parts and its start.
        let text = std::iter::once(&d.external_key)
            .chain(&d.texts)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n");
        t.add_text(f.text_j, &text);
        t.add_text(f.text_b, &text);
        let mut ips: Vec<String> = ip_values(&d.name)
            .into_iter()
            .chain(ip_values(&text))
            .collect();
        ips.sort();
        ips.dedup();
        for ip in ips {
            t.add_text(f.ip, ip);
        }
        t.add_text(f.org, d.org_id.to_string());
        t.add_text(f.class, d.class_id.to_string());
        t.add_text(f.status, &d.status);
        t
    }

    /// The query of one whitespace-separated part of the text, or None when it holds no word.
    fn part_query(&self, searcher: &Searcher, part: &str) -> Option<Box<dyn Query>> {
        let f = self.f;
        let boosted = |field: Field, text: &str, boost: f32| -> (Occur, Box<dyn Query>) {
            let q = TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic);
            (Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost)))
        };
        let mut any = vec![boosted(f.key_raw, &part.to_lowercase(), KEY_BOOST)];
        match ip_part(part) {
            Some(IpPart::Whole(ip)) => {
                any.push(boosted(f.ip, &ip, IP_BOOST));
                return Some(Box::new(BooleanQuery::new(any)));
            }
            Some(IpPart::Start(start)) => {
                let q = PhrasePrefixQuery::new(vec![Term::from_field_text(f.ip, &start)]);
                any.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(q), IP_PREFIX_BOOST)),
                ));
            }
            None => {}
        }
        let text = text_query(
            searcher,
            part,
            &WordFields::AnyOf(&[(f.name_j, NAME_BOOST), (f.text_j, 1.0)]),
            &[(f.name_b, NAME_BOOST), (f.text_b, 1.0)],
        )?;
        any.push((Occur::Should, text));
        Some(Box::new(BooleanQuery::new(any)))
    }

    fn query(&self, searcher: &Searcher, req: &CiSearchRequest) -> Option<BooleanQuery> {
        let f = self.f;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = req
            .text
            .split_whitespace()
            .take(MAX_QUERY_PARTS)
            .filter_map(|p| self.part_query(searcher, p))
            .map(|q| (Occur::Must, q))
            .collect();
        if clauses.is_empty() {
            return None;
        }
        if let Some(o) = req.org_id {
            clauses.push((Occur::Must, filter(f.org, &o.to_string())));
        }
        if let Some(c) = req.class_id {
            clauses.push((Occur::Must, filter(f.class, &c.to_string())));
        }
        if let Some(s) = &req.status {
            clauses.push((Occur::Must, filter(f.status, s)));
        }
        Some(BooleanQuery::new(clauses))
    }
}

impl CiIndex for CiSearchIndex {
    fn indexed_seq(&self) -> Option<i64> {
        self.ix.indexed_seq()
    }

    fn search(&self, req: &CiSearchRequest) -> Result<Vec<Uuid>, IndexError> {
        let limit = req.limit.min(MAX_RESULTS.saturating_sub(req.offset));
        if limit == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.ix.searcher();
        let Some(query) = self.query(&searcher, req) else {
            return Ok(Vec::new());
        };
        self.ix
            .top_ids(&searcher, &query, self.f.id, req.offset, limit)
    }

    fn add(&self, docs: Vec<CiDoc>) -> Result<(), IndexError> {
        let w = self.ix.writer()?;
        for d in &docs {
            w.add_document(self.document(d))?;
        }
        Ok(())
    }

    fn write(&self, docs: Vec<CiDoc>, deleted: Vec<Uuid>) -> Result<(), IndexError> {
        let w = self.ix.writer()?;
        for id in deleted {
            w.delete_term(Term::from_field_text(self.f.id, &id.to_string()));
        }
        for d in &docs {
            w.delete_term(Term::from_field_text(self.f.id, &d.id.to_string()));
            w.add_document(self.document(d))?;
        }
        Ok(())
    }

    fn commit(&self, seq: Option<i64>) -> Result<(), IndexError> {
        self.ix.commit(seq)
    }

    fn clear(&self) -> Result<(), IndexError> {
        self.ix.clear()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, key: &str, org: Uuid, texts: &[&str]) -> CiDoc {
        CiDoc {
            id: Uuid::now_v7(),
            org_id: org,
            class_id: Uuid::nil(),
            status: "in_use".into(),
            external_key: key.into(),
            name: name.into(),
            texts: texts.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn find(ix: &CiSearchIndex, text: &str) -> Vec<Uuid> {
        ix.search(&CiSearchRequest {
            text: text.into(),
            limit: 10,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn ip_values_are_found_in_text_and_made_canonical() {
        assert_eq!(
            ip_values("管理地址 10.1.2.3，备用10.1.2.4"),
            vec!["10.1.2.3", "10.1.2.4"]
        );
        assert_eq!(ip_values("10.0.0.0/24"), vec!["10.0.0.0", "10.0.0.0/24"]);
        assert_eq!(ip_values("2001:DB8:0::1"), vec!["2001:db8::1"]);
        assert_eq!(ip_values("gw fe80::1."), vec!["fe80::1"]);
        assert_eq!(ip_values("ip:10.1.2.3:8080"), vec!["10.1.2.3"]);
        assert_eq!(ip_values("环回 ::1"), vec!["::1"]);
        assert!(ip_values("版本 10.15 端口 8080 日期 2026-03-01 300.1.1.1").is_empty());
    }

    #[test]
    fn ip_parts() {
        assert_eq!(ip_part("10.1.2.3"), Some(IpPart::Whole("10.1.2.3".into())));
        assert_eq!(
            ip_part("10.0.0.0/24"),
            Some(IpPart::Whole("10.0.0.0/24".into()))
        );
        assert_eq!(ip_part("10.1.2"), Some(IpPart::Start("10.1.2".into())));
        assert_eq!(ip_part("10.1."), Some(IpPart::Start("10.1.".into())));
        assert_eq!(ip_part("FE80:"), Some(IpPart::Start("fe80:".into())));
        for p in ["数据库", "abc.def", "1020", ".10", "beef:", "v1.2"] {
            assert_eq!(ip_part(p), None, "{p}");
        }
    }

    #[test]
    fn finds_by_name_words_key_class_texts_and_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let ix = CiSearchIndex::open(dir.path()).unwrap();
        assert!(ix.path().starts_with(dir.path().join("ci")));
        assert_eq!(ix.indexed_seq(), None);
        let org = Uuid::now_v7();
        let db = doc(
            "财务系统核心数据库",
            "DB-FIN-01",
            org,
            &["database", "数据库", "Database", "A栋三楼机房", "Oracle"],
        );
        let srv = doc(
            "财务应用服务器",
            "SRV-0001",
            org,
            &[
                "physical_server",
                "物理服务器",
                "Physical server",
                "10.1.2.3",
            ],
        );
        let near = doc(
            "备用服务器",
            "SRV-0002",
            org,
            &[
                "physical_server",
                "物理服务器",
                "Physical server",
                "10.1.2.30",
            ],
        );
        ix.write(vec![db.clone(), srv.clone(), near.clone()], vec![])
            .unwrap();
        ix.commit(Some(3)).unwrap();
        assert_eq!(ix.indexed_seq(), Some(3));
        for q in [
            "数据库",
            "核心数据库",
            "财务 数据库",
            "oracle",
            "机房",
            "db-fin-01",
        ] {
            assert_eq!(find(&ix, q), vec![db.id], "{q}");
        }
        let mut finance = find(&ix, "财务");
        finance.sort();
        let mut expected = vec![db.id, srv.id];
        expected.sort();
        assert_eq!(finance, expected);
        let mut servers = find(&ix, "物理服务器");
        servers.sort();
        let mut expected = vec![srv.id, near.id];
        expected.sort();
        assert_eq!(servers, expected);
        assert_eq!(
            find(&ix, "Physical").len(),
            2,
            "English class names, any case"
        );
        // Whole addresses exactly, starts of addresses as prefixes.
        assert_eq!(find(&ix, "10.1.2.3"), vec![srv.id]);
        assert_eq!(find(&ix, "10.1.2.30"), vec![near.id]);
        assert_eq!(find(&ix, "10.1.2").len(), 2);
        assert!(find(&ix, "10.9").is_empty());
        // The exact key ranks first, a key's start is found by its bigram prefix.
        assert_eq!(find(&ix, "SRV-0002")[0], near.id);
        assert_eq!(find(&ix, "SRV").len(), 2);
        assert!(find(&ix, "，。").is_empty());
        assert!(find(&ix, "数据库 10.1.2.3").is_empty());
    }

    #[test]
    fn ranks_name_matches_first_and_respects_filters_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let ix = CiSearchIndex::open(dir.path()).unwrap();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let in_text = doc("核心交换机", "SW-01", a, &["位于数据库机房"]);
        let in_name = doc("数据库服务器", "SRV-01", a, &["物理服务器"]);
        let other_org = doc("数据库一体机", "DB-01", b, &[]);
        ix.write(
            vec![in_text.clone(), in_name.clone(), other_org.clone()],
            vec![],
        )
        .unwrap();
        ix.commit(Some(1)).unwrap();
        let req = |org: Option<Uuid>, status: Option<&str>| CiSearchRequest {
            text: "数据库".into(),
            org_id: org,
            status: status.map(str::to_string),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(
            ix.search(&req(Some(a), None)).unwrap(),
            vec![in_name.id, in_text.id]
        );
        assert_eq!(ix.search(&req(Some(b), None)).unwrap(), vec![other_org.id]);
        assert!(ix
            .search(&req(Some(b), Some("retired")))
            .unwrap()
            .is_empty());
        let page2 = CiSearchRequest {
            offset: 1,
            limit: 1,
            ..req(Some(a), None)
        };
        assert_eq!(ix.search(&page2).unwrap(), vec![in_text.id]);
        let class = CiSearchRequest {
            class_id: Some(Uuid::now_v7()),
            ..req(None, None)
        };
        assert!(ix.search(&class).unwrap().is_empty());

        let mut retired = in_name.clone();
        retired.status = "retired".into();
        retired.name = "旧服务器".into();
        ix.write(vec![retired], vec![other_org.id]).unwrap();
        ix.commit(Some(2)).unwrap();
        assert_eq!(ix.num_docs(), 2, "a replaced document is not duplicated");
        assert_eq!(ix.search(&req(None, None)).unwrap(), vec![in_text.id]);
        assert_eq!(
            ix.search(&CiSearchRequest {
                text: "旧服务器".into(),
                status: Some("retired".into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap(),
            vec![in_name.id]
        );
    }

    #[test]
    fn lives_next_to_the_ticket_index_and_reopens_with_its_seq() {
        let dir = tempfile::tempdir().unwrap();
        let d = doc("VPN 网关", "VPN-GW", Uuid::now_v7(), &[]);
        {
            let tickets = crate::TicketSearchIndex::open(dir.path()).unwrap();
            let ix = CiSearchIndex::open(dir.path()).unwrap();
            ix.write(vec![d.clone()], vec![]).unwrap();
            ix.commit(Some(42)).unwrap();
            assert!(matches!(
                CiSearchIndex::open(dir.path()),
                Err(OpenError::Busy(_))
            ));
            assert_eq!(tickets.num_docs(), 0);
            // Opening the ticket index again does not take the CI index for an old version.
            drop(tickets);
            crate::TicketSearchIndex::open(dir.path()).unwrap();
            assert!(ix.path().exists());
        }
        let ix = CiSearchIndex::open(dir.path()).unwrap();
        assert_eq!(ix.indexed_seq(), Some(42));
        assert_eq!(find(&ix, "vpn"), vec![d.id]);
        assert_eq!(find(&ix, "网关"), vec![d.id]);
        ix.clear().unwrap();
        assert_eq!(ix.indexed_seq(), None);
        assert!(find(&ix, "vpn").is_empty());
    }
}
