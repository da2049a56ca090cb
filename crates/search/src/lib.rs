//! yunwei-search: a node's full-text indexes of tickets and of configuration items ([`ci`])
//! (tantivy on local disk, memory-mapped), with Chinese word segmentation.
//!
//! Every text is indexed twice: segmented by jieba (search mode, English lowercased) and as
//! CJK bigrams with positions. A query's whitespace-separated parts must all match. A part
//! whose jieba words are all words of two or more characters known to the index is matched by
//! words (cheap, no positions; a search of words alone is pruned by block-max scores);
//! any other part (a fragment like 印机, a lone character, an unknown word, a partly typed
//! English word) by its bigrams as a phrase, the last one as a prefix, which finds any
//! substring. Ticket numbers match whole or by the start of their sequence number.
//! Fields: the words of what a customer sees (subject twice, so that it ranks higher,
//! description, public timeline texts, public attachments' names), the same words and those of
//! the internal notes and attachments (staff's field), the bigrams of each, and the filters
//! (organization, status, kind, priority, assignee, team), applied inside the index.
//!
//! Measured on the harness's generated set of 1,000,000 tickets (release build, this 2-core
//! machine): rebuilding the index 133 s, 344 MB on disk; figures of the searches in
//! docs/benchmarks.md and bench/analysis.md.
//!
//! The index is fed and rebuilt by `yunwei_service::search`; it records with every commit the
//! audit sequence number it covers. Its files live in `<dir>/v<SCHEMA_VERSION>`: an index of
//! another schema version is removed and rebuilt from the database.

pub mod ci;
pub mod tokenize;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query,
    TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};
use uuid::Uuid;
use yunwei_service::search::{IndexError, SearchRequest, TicketDoc, TicketIndex};

pub use ci::CiSearchIndex;
use tokenize::{BigramTokenizer, JiebaTokenizer, BIGRAM, JIEBA};

/// Bump when the schema or the tokenizers change: the index is then rebuilt.
pub const SCHEMA_VERSION: u32 = 2;

/// The indexing buffer (one indexing thread): small, so the node's memory stays small; a
/// full buffer becomes a segment and segments are merged in the background.
const WRITER_MEMORY_BYTES: usize = 32_000_000;
/// Whitespace-separated parts of a query taken.
const MAX_QUERY_PARTS: usize = 8;
/// Deepest result taken (offset + limit).
const MAX_RESULTS: usize = 10_000;

/// A ticket number's sequence number or the start of it (000123, 0001): three or more digits.
/// A number's other parts (prefix, year) alone are in thousands of tickets and select nothing.
fn is_sequence_prefix(s: &str) -> bool {
    s.len() >= 3 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `INC-2026-000123`: letters, a dash, a four-digit year, a dash, digits.
fn is_ticket_number(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(kind), Some(year), Some(seq), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !kind.is_empty()
        && kind.chars().all(|c| c.is_ascii_alphabetic())
        && year.len() == 4
        && year.chars().all(|c| c.is_ascii_digit())
        && !seq.is_empty()
        && seq.chars().all(|c| c.is_ascii_digit())
}

/// What the index records with each commit.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    schema: u32,
    /// The audit seq covered; `None` while the index is being built.
    seq: Option<i64>,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    /// The whole number (upper case), for exact look-ups.
    number_raw: Field,
    /// The number's parts (prefix, year, sequence), for partial ones.
    number: Field,
    /// Words of what the customer sees (subject twice, description, public replies,
    /// attachment names): where a customer's words must be.
    public_j: Field,
    /// Words of all of it including internal notes: where staff's words must be.
    all_j: Field,
    /// Bigrams of subject and body together.
    text_b: Field,
    notes_b: Field,
    org: Field,
    status: Field,
    kind: Field,
    priority: Field,
    assignee: Field,
    team: Field,
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
        number_raw: b.add_text_field("number_raw", STRING),
        number: b.add_text_field("number", bigram.clone()),
        public_j: b.add_text_field("public_j", jieba.clone()),
        all_j: b.add_text_field("all_j", jieba),
        text_b: b.add_text_field("text_b", bigram.clone()),
        notes_b: b.add_text_field("notes_b", bigram),
        org: b.add_text_field("org", STRING),
        status: b.add_text_field("status", STRING),
        kind: b.add_text_field("kind", STRING),
        priority: b.add_text_field("priority", STRING),
        assignee: b.add_text_field("assignee", STRING),
        team: b.add_text_field("team", STRING),
    };
    (b.build(), f)
}

/// One tantivy index in a versioned directory of this node (`<dir>/v<version>`), with the
/// audit seq its last commit covers. Shared by the ticket and the CI index.
pub(crate) struct Store {
    dir: PathBuf,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    version: u32,
    /// The committed payload's seq.
    seq: Mutex<Option<i64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "search index {0}: another process (a running `yunwei serve` on this machine?) uses it"
    )]
    Busy(PathBuf),
    #[error("search index {0}: {1}")]
    Io(PathBuf, String),
}

fn err(e: impl std::fmt::Display) -> IndexError {
    e.to_string().into()
}

impl Store {
    /// Open the index of `schema` under `dir` (created if missing; an index of another
    /// version there is removed). Takes the directory's writer lock: one process per index.
    pub(crate) fn open(
        dir: &Path,
        version: u32,
        schema: Schema,
        writer_memory: usize,
    ) -> Result<Self, OpenError> {
        let io = |e: &dyn std::fmt::Display| OpenError::Io(dir.to_path_buf(), e.to_string());
        let path = dir.join(format!("v{version}"));
        std::fs::create_dir_all(&path).map_err(|e| io(&e))?;
        let index = if path.join("meta.json").exists() {
            match Index::open_in_dir(&path) {
                Ok(i) if i.schema() == schema => i,
                Ok(_) => return Err(io(
                    &"the index schema differs from this version's (SCHEMA_VERSION not bumped?)",
                )),
                Err(e) => {
                    // Rebuilt from the database: nothing is lost by starting over.
                    tracing::warn!(
                        "search index {} cannot be opened ({e}); rebuilding it",
                        path.display()
                    );
                    std::fs::remove_dir_all(&path).map_err(|e| io(&e))?;
                    std::fs::create_dir_all(&path).map_err(|e| io(&e))?;
                    Index::create_in_dir(&path, schema).map_err(|e| io(&e))?
                }
            }
        } else {
            Index::create_in_dir(&path, schema).map_err(|e| io(&e))?
        };
        index.tokenizers().register(JIEBA, JiebaTokenizer);
        index.tokenizers().register(BIGRAM, BigramTokenizer);
        let writer = index
            .writer_with_num_threads(1, writer_memory)
            .map_err(|e| match e {
                tantivy::TantivyError::LockFailure(..) => OpenError::Busy(path.clone()),
                e => io(&e),
            })?;
        // Holding the lock: indexes of other versions are ours to remove.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let old = name
                    .strip_prefix('v')
                    .is_some_and(|v| v.parse::<u32>().is_ok_and(|n| n != version));
                if old && e.path().is_dir() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| io(&e))?;
        let seq = index
            .load_metas()
            .map_err(|e| io(&e))?
            .payload
            .and_then(|p| serde_json::from_str::<Payload>(&p).ok())
            .filter(|p| p.schema == version)
            .and_then(|p| p.seq);
        Ok(Self {
            dir: path,
            reader,
            writer: Mutex::new(writer),
            version,
            seq: Mutex::new(seq),
        })
    }

    pub(crate) fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    pub(crate) fn writer(&self) -> Result<MutexGuard<'_, IndexWriter>, IndexError> {
        self.writer.lock().map_err(|_| err("index writer poisoned"))
    }

    pub(crate) fn indexed_seq(&self) -> Option<i64> {
        self.seq.lock().map(|s| *s).unwrap_or(None)
    }

    pub(crate) fn commit(&self, seq: Option<i64>) -> Result<(), IndexError> {
        let mut w = self.writer()?;
        let payload = serde_json::to_string(&Payload {
            schema: self.version,
            seq,
        })
        .map_err(err)?;
        let mut prepared = w.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.reader.reload()?;
        *self.seq.lock().map_err(|_| err("index state poisoned"))? = seq;
        Ok(())
    }

    pub(crate) fn clear(&self) -> Result<(), IndexError> {
        self.writer()?.delete_all_documents()?;
        self.commit(None)
    }

    /// The stored ids of the best `limit` documents after `offset`.
    pub(crate) fn top_ids(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        id: Field,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Uuid>, IndexError> {
        let top = searcher.search(
            query,
            &TopDocs::with_limit(limit)
                .and_offset(offset)
                .order_by_score(),
        )?;
        let mut ids = Vec::with_capacity(top.len());
        for (_, addr) in top {
            let d: TantivyDocument = searcher.doc(addr)?;
            if let Some(id) = d
                .get_first(id)
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<Uuid>().ok())
            {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

/// Where the words of a query must be.
pub(crate) enum WordFields<'a> {
    /// In one of these fields, scored with their boosts.
    AnyOf(&'a [(Field, f32)]),
    /// In this one field, which holds the words of all the others (the ticket index: the
    /// subject's words twice, so that they score higher). Intersecting the postings of one
    /// field per word is cheaper than intersecting unions of fields: a `TermScorer` seeks
    /// through its skip list where a union walks every posting of every field of each word.
    /// At 1,000,000 tickets 邮件系统 took 4.9 ms as unions over subject, body and notes and
    /// 3.2 ms this way (bench/analysis.md §0c); see also [`flat_words_query`].
    One(Field),
}

/// The words of a part of a query when it is matched by words (see [`text_query`]), else None.
fn part_words(part: &str, known: impl Fn(&str) -> bool) -> Option<Vec<String>> {
    let mut words: Vec<String> = tokenize::jieba_tokens(part, false)
        .into_iter()
        .map(|t| t.text)
        .collect();
    words.sort();
    words.dedup();
    let words_mode = !words.is_empty()
        && words
            .iter()
            .all(|w| (w.chars().count() > 1 || !w.chars().any(tokenize::is_cjk)) && known(w));
    words_mode.then_some(words)
}

/// A query of words that must all be in `field`, with nothing else around them when there are
/// no `filters`: one `TermQuery`, or a `BooleanQuery` of required `TermQuery`s and the
/// filters. tantivy recognizes exactly these shapes (a term, a pure intersection of terms)
/// and prunes with the postings' block-max scores (block-WAND) while it collects the best
/// results, instead of scoring every matching document; nested in other boolean queries
/// they would be scored one by one. `filters` (organization, status …) keep the intersection
/// correct but make it an ordinary one.
fn flat_words_query(
    field: Field,
    words: &[String],
    filters: Vec<(Occur, Box<dyn Query>)>,
) -> Box<dyn Query> {
    let term = |w: &String| {
        TermQuery::new(
            Term::from_field_text(field, w),
            IndexRecordOption::WithFreqs,
        )
    };
    if let ([w], true) = (words, filters.is_empty()) {
        return Box::new(term(w));
    }
    let clauses: Vec<(Occur, Box<dyn Query>)> = words
        .iter()
        .map(|w| (Occur::Must, Box::new(term(w)) as Box<dyn Query>))
        .chain(filters)
        .collect();
    Box::new(BooleanQuery::new(clauses))
}

/// The text query of one whitespace-separated part of a query, or None when it holds no word.
///
/// Words mode, when every jieba word of the part is a word of at least two characters that
/// the index holds (in `words_in`, see [`WordFields`]): each word must be there. Otherwise
/// bigram mode: the part's bigrams as a phrase in one of `gram_fields` (the last partial word
/// or a lone character as a prefix), which finds any substring. Words mode is the cheap one
/// (no positions), bigram mode the one that never misses.
pub(crate) fn text_query(
    searcher: &Searcher,
    part: &str,
    words_in: &WordFields<'_>,
    gram_fields: &[(Field, f32)],
) -> Option<Box<dyn Query>> {
    let known = |w: &str| match words_in {
        WordFields::AnyOf(fields) => fields
            .iter()
            .any(|(field, _)| has_word(searcher, *field, w)),
        WordFields::One(field) => has_word(searcher, *field, w),
    };
    let words = part_words(part, known);
    let grams = tokenize::bigram_tokens(part);
    if words.is_none() && grams.is_empty() {
        return None;
    }
    let boosted = |q: Box<dyn Query>, boost: f32| -> Box<dyn Query> {
        if boost == 1.0 {
            q
        } else {
            Box::new(BoostQuery::new(q, boost))
        }
    };
    if let Some(words) = words {
        let term = |field: Field, text: &str, boost: f32| -> (Occur, Box<dyn Query>) {
            let q = TermQuery::new(
                Term::from_field_text(field, text),
                IndexRecordOption::WithFreqs,
            );
            (Occur::Should, boosted(Box::new(q), boost))
        };
        let all: Vec<(Occur, Box<dyn Query>)> = words
            .iter()
            .map(|w| {
                let q: Box<dyn Query> = match words_in {
                    WordFields::AnyOf(fields) => Box::new(BooleanQuery::new(
                        fields
                            .iter()
                            .map(|(field, boost)| term(*field, w, *boost))
                            .collect(),
                    )),
                    WordFields::One(field) => term(*field, w, 1.0).1,
                };
                (Occur::Must, q)
            })
            .collect();
        return Some(Box::new(BooleanQuery::new(all)));
    }
    // The last word may be typed only in part ("VP", "0001", a lone 网).
    let prefix_last = grams
        .last()
        .is_some_and(|t| t.text.chars().count() == 1 || !t.text.chars().any(tokenize::is_cjk));
    let any: Vec<(Occur, Box<dyn Query>)> = gram_fields
        .iter()
        .map(|(field, boost)| {
            let terms: Vec<Term> = grams
                .iter()
                .map(|t| Term::from_field_text(*field, &t.text))
                .collect();
            let q: Box<dyn Query> = match (terms.len(), prefix_last) {
                (_, true) => Box::new(PhrasePrefixQuery::new(terms)),
                (1, false) => Box::new(TermQuery::new(
                    terms[0].clone(),
                    IndexRecordOption::WithFreqs,
                )),
                (_, false) => Box::new(PhraseQuery::new(terms)),
            };
            (Occur::Should, boosted(q, *boost))
        })
        .collect();
    Some(Box::new(BooleanQuery::new(any)))
}

/// Whether `field` holds the word `w` in any document.
fn has_word(searcher: &Searcher, field: Field, w: &str) -> bool {
    searcher
        .doc_freq(&Term::from_field_text(field, w))
        .is_ok_and(|n| n > 0)
}

/// The words of several texts as the value of one field (positions consecutive across them).
/// The field is neither stored nor positional, so the text itself is not kept.
fn words(parts: &[&[Token]]) -> PreTokenizedString {
    let mut tokens = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for t in parts.iter().flat_map(|p| p.iter()) {
        let mut t = t.clone();
        t.position = tokens.len();
        tokens.push(t);
    }
    PreTokenizedString {
        text: String::new(),
        tokens,
    }
}

/// A filter on a string field: must match, adds nothing to the score.
pub(crate) fn filter(field: Field, v: &str) -> Box<dyn Query> {
    let q = TermQuery::new(Term::from_field_text(field, v), IndexRecordOption::Basic);
    Box::new(ConstScoreQuery::new(Box::new(q), 0.0))
}

/// A ticket index in a directory of this node.
pub struct TicketSearchIndex {
    ix: Store,
    f: Fields,
}

impl TicketSearchIndex {
    /// Open the index under `dir` (created if missing; an index of another schema version
    /// there is removed). Takes the directory's writer lock: one process per index.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        let (schema, f) = schema();
        Ok(Self {
            ix: Store::open(dir, SCHEMA_VERSION, schema, WRITER_MEMORY_BYTES)?,
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

    fn document(&self, d: &TicketDoc) -> TantivyDocument {
        let f = self.f;
        let mut t = TantivyDocument::default();
        t.add_text(f.id, d.id.to_string());
        t.add_text(f.number_raw, d.number.to_uppercase());
        t.add_text(f.number, &d.number);
        let mut body = d.description.clone();
        for x in d.replies.iter().chain(&d.attachments) {
            body.push('\n');
            body.push_str(x);
        }
        let notes = d.notes.join("\n");
        // Each text is segmented once; its words go into every field that holds it.
        let subject = tokenize::jieba_tokens(&d.subject, true);
        let body_words = tokenize::jieba_tokens(&body, true);
        let notes_words = tokenize::jieba_tokens(&notes, true);
        // The subject twice: its words score higher (BM25 counts how often a word occurs).
        let public = [&subject[..], &subject, &body_words];
        t.add_pre_tokenized_text(f.public_j, words(&public));
        t.add_pre_tokenized_text(f.all_j, words(&[&public[..], &[&notes_words]].concat()));
        t.add_text(f.text_b, format!("{}\n{body}", d.subject));
        t.add_text(f.notes_b, &notes);
        t.add_text(f.org, d.org_id.to_string());
        t.add_text(f.status, &d.status);
        t.add_text(f.kind, &d.kind);
        if let Some(p) = d.priority {
            t.add_text(f.priority, p.to_string());
        }
        if let Some(a) = d.assignee_id {
            t.add_text(f.assignee, a.to_string());
        }
        if let Some(team) = d.team_id {
            t.add_text(f.team, team.to_string());
        }
        t
    }

    /// The query of one whitespace-separated part of the text, or None when it holds no
    /// word: [`text_query`] over what the reader may search (for staff with the notes), or a
    /// ticket number.
    fn part_query(
        &self,
        searcher: &Searcher,
        part: &str,
        include_notes: bool,
    ) -> Option<Box<dyn Query>> {
        let f = self.f;
        let mut gram_fields = vec![(f.text_b, 1.0)];
        if include_notes {
            gram_fields.push((f.notes_b, 1.0));
        }
        let words = WordFields::One(self.words_field(include_notes));
        let main = text_query(searcher, part, &words, &gram_fields)?;
        let Some(number) = self.number_query(part) else {
            return Some(main);
        };
        Some(Box::new(BooleanQuery::new(vec![
            (Occur::Should, main),
            (Occur::Should, number),
        ])))
    }

    /// The field a reader's words must be in: with or without the internal notes.
    fn words_field(&self, include_notes: bool) -> Field {
        if include_notes {
            self.f.all_j
        } else {
            self.f.public_j
        }
    }

    /// The query of a part that may be a ticket number, or None.
    fn number_query(&self, part: &str) -> Option<Box<dyn Query>> {
        let f = self.f;
        let number: Box<dyn Query> = if is_ticket_number(part) {
            Box::new(TermQuery::new(
                Term::from_field_text(f.number_raw, &part.to_uppercase()),
                IndexRecordOption::Basic,
            ))
        } else if is_sequence_prefix(part) {
            // Digits only: one bigram token, the digits themselves.
            let grams = tokenize::bigram_tokens(part);
            let [g] = grams.as_slice() else {
                return None;
            };
            Box::new(PhrasePrefixQuery::new(vec![Term::from_field_text(
                f.number, &g.text,
            )]))
        } else {
            return None;
        };
        Some(Box::new(BoostQuery::new(number, 3.0)))
    }

    /// The query of a search: when every part is matched by words and none may be a ticket
    /// number, the words of all parts flat ([`flat_words_query`]: a search of one or several
    /// words without filters, the commonest kind, is pruned by block-max scores); otherwise
    /// each part's query ([`Self::part_query`]) required, with the filters.
    fn query(&self, searcher: &Searcher, req: &SearchRequest) -> Option<Box<dyn Query>> {
        let parts: Vec<&str> = req.text.split_whitespace().take(MAX_QUERY_PARTS).collect();
        let field = self.words_field(req.include_notes);
        let flat: Option<Vec<Vec<String>>> = parts
            .iter()
            .map(|p| {
                let number = is_ticket_number(p) || is_sequence_prefix(p);
                (!number).then(|| part_words(p, |w| has_word(searcher, field, w)))?
            })
            .collect();
        match flat.map(|w| w.concat()) {
            Some(mut words) if !words.is_empty() => {
                words.sort();
                words.dedup();
                Some(flat_words_query(field, &words, self.filters(req)))
            }
            _ => self.nested_query(searcher, &parts, req),
        }
    }

    /// Each part's query required, and the filters.
    fn nested_query(
        &self,
        searcher: &Searcher,
        parts: &[&str],
        req: &SearchRequest,
    ) -> Option<Box<dyn Query>> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = parts
            .iter()
            .filter_map(|p| self.part_query(searcher, p, req.include_notes))
            .map(|q| (Occur::Must, q))
            .collect();
        if clauses.is_empty() {
            return None;
        }
        clauses.extend(self.filters(req));
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    /// The request's filters as clauses: organization, status, kind, priority, assignee,
    /// team, open only.
    fn filters(&self, req: &SearchRequest) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.f;
        let mut clauses = Vec::new();
        let must = |field: Field, v: String| (Occur::Must, filter(field, &v));
        if let Some(o) = req.org_id {
            clauses.push(must(f.org, o.to_string()));
        }
        if let Some(s) = &req.status {
            clauses.push(must(f.status, s.clone()));
        }
        if let Some(k) = &req.kind {
            clauses.push(must(f.kind, k.clone()));
        }
        if let Some(p) = req.priority {
            clauses.push(must(f.priority, p.to_string()));
        }
        if let Some(a) = req.assignee_id {
            clauses.push(must(f.assignee, a.to_string()));
        }
        if let Some(t) = req.team_id {
            clauses.push(must(f.team, t.to_string()));
        }
        if req.open_only {
            for s in ["closed", "cancelled"] {
                clauses.push((Occur::MustNot, filter(f.status, s)));
            }
        }
        clauses
    }
}

impl TicketIndex for TicketSearchIndex {
    fn indexed_seq(&self) -> Option<i64> {
        self.ix.indexed_seq()
    }

    fn search(&self, req: &SearchRequest) -> Result<Vec<Uuid>, IndexError> {
        let limit = req.limit.min(MAX_RESULTS.saturating_sub(req.offset));
        if limit == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.ix.searcher();
        let Some(query) = self.query(&searcher, req) else {
            return Ok(Vec::new());
        };
        self.ix
            .top_ids(&searcher, query.as_ref(), self.f.id, req.offset, limit)
    }

    fn add(&self, docs: Vec<TicketDoc>) -> Result<(), IndexError> {
        let w = self.ix.writer()?;
        for d in &docs {
            w.add_document(self.document(d))?;
        }
        Ok(())
    }

    fn write(&self, docs: Vec<TicketDoc>, deleted: Vec<Uuid>) -> Result<(), IndexError> {
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

    fn doc(subject: &str, org: Uuid) -> TicketDoc {
        TicketDoc {
            id: Uuid::now_v7(),
            number: "INC-2026-000123".into(),
            org_id: org,
            kind: "incident".into(),
            status: "new".into(),
            priority: Some(2),
            assignee_id: None,
            team_id: None,
            subject: subject.into(),
            description: "请尽快处理".into(),
            replies: vec!["已派工程师上门".into()],
            notes: vec!["内部备注：疑似网线老化".into()],
            attachments: vec!["故障截图.png".into()],
        }
    }

    fn find(ix: &TicketSearchIndex, text: &str, notes: bool) -> Vec<Uuid> {
        ix.search(&SearchRequest {
            text: text.into(),
            include_notes: notes,
            limit: 10,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn finds_by_words_bigrams_prefixes_and_respects_filters() {
        let dir = tempfile::tempdir().unwrap();
        let ix = TicketSearchIndex::open(dir.path()).unwrap();
        assert_eq!(ix.indexed_seq(), None);
        let org = Uuid::now_v7();
        let d = doc("财务系统打印机无法连接网络", org);
        ix.write(vec![d.clone()], vec![]).unwrap();
        ix.commit(Some(7)).unwrap();
        assert_eq!(ix.indexed_seq(), Some(7));
        for q in [
            "打印机",
            "网络",
            "财务系统",
            "印机",
            "打印机 网络",
            "网",
            "上门",
            "截图",
            "INC-2026-000123",
            "inc-2026-000123",
            "000123",
            "0001",
        ] {
            assert_eq!(find(&ix, q, false), vec![d.id], "{q}");
        }
        assert!(find(&ix, "打印机 邮件", false).is_empty());
        assert!(find(&ix, "网线老化", false).is_empty());
        assert_eq!(find(&ix, "网线老化", true), vec![d.id]);
        assert!(find(&ix, "，。", false).is_empty());
        let other = SearchRequest {
            text: "打印机".into(),
            org_id: Some(Uuid::now_v7()),
            limit: 10,
            ..Default::default()
        };
        assert!(ix.search(&other).unwrap().is_empty());
        let open = SearchRequest {
            text: "打印机".into(),
            org_id: Some(org),
            open_only: true,
            priority: Some(2),
            kind: Some("incident".into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(ix.search(&open).unwrap(), vec![d.id]);
        let mut closed = d.clone();
        closed.status = "closed".into();
        ix.write(vec![closed], vec![]).unwrap();
        ix.commit(Some(8)).unwrap();
        assert!(ix.search(&open).unwrap().is_empty());
        assert_eq!(ix.num_docs(), 1, "a replaced document is not duplicated");
        ix.write(vec![], vec![d.id]).unwrap();
        ix.commit(Some(9)).unwrap();
        assert!(find(&ix, "打印机", true).is_empty());
    }

    #[test]
    fn ranks_subject_matches_first_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let ix = TicketSearchIndex::open(dir.path()).unwrap();
        let org = Uuid::now_v7();
        let mut in_body = doc("邮件无法发送", org);
        in_body.description = "打印机也坏了".into();
        let in_subject = doc("打印机卡纸", org);
        ix.write(vec![in_body.clone(), in_subject.clone()], vec![])
            .unwrap();
        ix.commit(Some(1)).unwrap();
        assert_eq!(find(&ix, "打印机", false), vec![in_subject.id, in_body.id]);
        let page2 = SearchRequest {
            text: "打印机".into(),
            offset: 1,
            limit: 1,
            ..Default::default()
        };
        assert_eq!(ix.search(&page2).unwrap(), vec![in_body.id]);
    }

    #[test]
    fn words_of_one_query_may_be_in_different_fields() {
        let dir = tempfile::tempdir().unwrap();
        let ix = TicketSearchIndex::open(dir.path()).unwrap();
        let mut d = doc("打印机卡纸", Uuid::now_v7());
        d.description = "财务室的设备".into();
        d.replies = vec!["已更换硒鼓".into()];
        ix.write(vec![d.clone()], vec![]).unwrap();
        ix.commit(Some(1)).unwrap();
        // Subject + description, subject + reply, description + attachment name: everyone.
        for q in ["卡纸 财务", "打印机 硒鼓", "设备 截图", "打印机卡纸 设备"] {
            assert_eq!(find(&ix, q, false), vec![d.id], "{q}");
        }
        // A word of the internal notes with one of the subject: staff only.
        assert_eq!(find(&ix, "卡纸 网线", true), vec![d.id]);
        assert!(find(&ix, "卡纸 网线", false).is_empty());
        assert!(find(&ix, "卡纸 邮件", true).is_empty());
    }

    #[test]
    fn flat_and_nested_queries_find_the_same_tickets() {
        let dir = tempfile::tempdir().unwrap();
        let ix = TicketSearchIndex::open(dir.path()).unwrap();
        let org = Uuid::now_v7();
        let subjects = [
            "财务系统无法登录",
            "邮件系统响应缓慢",
            "打印机卡纸",
            "财务室打印机无法连接",
            "核心数据库响应缓慢",
            "VPN 无法连接",
        ];
        let mut docs = Vec::new();
        for (i, s) in subjects.iter().enumerate() {
            let mut d = doc(s, org);
            if i % 2 == 0 {
                d.notes = vec!["已联系财务系统厂商".into()];
            }
            docs.push(d);
        }
        ix.write(docs, vec![]).unwrap();
        ix.commit(Some(1)).unwrap();
        let searcher = ix.ix.searcher();
        for (text, notes) in [
            ("打印机", false),
            ("财务系统", false),
            ("财务系统", true),
            ("无法 连接", false),
            ("响应缓慢 数据库", false),
            ("vpn", false),
            ("厂商", true),
            ("厂商", false),
        ] {
            let req = SearchRequest {
                text: text.into(),
                include_notes: notes,
                limit: 10,
                ..Default::default()
            };
            let parts: Vec<&str> = text.split_whitespace().collect();
            let run = |q: Box<dyn Query>| {
                let mut ids = ix
                    .ix
                    .top_ids(&searcher, q.as_ref(), ix.f.id, 0, 10)
                    .unwrap();
                ids.sort();
                ids
            };
            let flat = run(ix.query(&searcher, &req).unwrap());
            let nested = run(ix.nested_query(&searcher, &parts, &req).unwrap());
            assert_eq!(flat, nested, "{text} {notes}");
            let expected = match (text, notes) {
                ("打印机", _) | ("无法 连接", _) => 2,
                ("财务系统", false) | ("vpn", _) => 1,
                ("财务系统", true) | ("厂商", true) => 3,
                ("响应缓慢 数据库", _) => 1,
                _ => 0,
            };
            assert_eq!(flat.len(), expected, "{text} {notes}");
        }
    }

    #[test]
    fn reopens_with_its_seq_clears_and_refuses_a_second_writer() {
        let dir = tempfile::tempdir().unwrap();
        let d = doc("VPN 断线", Uuid::now_v7());
        {
            let ix = TicketSearchIndex::open(dir.path()).unwrap();
            ix.write(vec![d.clone()], vec![]).unwrap();
            ix.commit(Some(42)).unwrap();
            assert!(matches!(
                TicketSearchIndex::open(dir.path()),
                Err(OpenError::Busy(_))
            ));
        }
        let ix = TicketSearchIndex::open(dir.path()).unwrap();
        assert_eq!(ix.indexed_seq(), Some(42));
        assert_eq!(find(&ix, "vpn", false), vec![d.id]);
        assert_eq!(find(&ix, "VP", false), vec![d.id]);
        ix.clear().unwrap();
        assert_eq!(ix.indexed_seq(), None);
        assert!(find(&ix, "vpn", false).is_empty());
    }

    #[test]
    fn an_index_of_another_schema_version_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("v0");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("meta.json"), "{}").unwrap();
        let ix = TicketSearchIndex::open(dir.path()).unwrap();
        assert!(!old.exists());
        assert!(ix.path().ends_with(format!("v{SCHEMA_VERSION}")));
        // A corrupt index of this version is started over (it is rebuilt from the database).
        drop(ix);
        std::fs::write(
            dir.path()
                .join(format!("v{SCHEMA_VERSION}"))
                .join("meta.json"),
            "not json",
        )
        .unwrap();
        let ix = TicketSearchIndex::open(dir.path()).unwrap();
        assert_eq!(ix.indexed_seq(), None);
    }
}
