//! The knowledge base: one Markdown file per answer with a small front
//! matter block. See the crate's documentation for the
//! format. Parsing is done here by hand (a documented YAML subset) so no
//! YAML dependency is needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::care::{COMPLAINT_FILE, CareExamples, VULNERABILITY_FILE};

mod folds;

/// Id of the article whose body is the human-contact text. Its body is used
/// for every handoff and replaces `{{contact}}` in other articles, so the
/// contact details live in exactly one place.
pub const HANDOFF_ARTICLE_ID: &str = "handoff";

/// Id of the article whose approved words answer a complaint (how
/// complaints are handled, timescales, the Ombudsman).
pub const COMPLAINTS_ARTICLE_ID: &str = "complaints";

/// Id of the article whose words answer a vulnerability cue: gentle, plain,
/// a person first.
pub const SUPPORT_ARTICLE_ID: &str = "support";

/// Longest article id, in bytes: ids are stored in every conversation turn,
/// so they count against the session stores' byte budgets.
pub const MAX_ID_BYTES: usize = 64;

/// Placeholder replaced by the body of the `handoff` article.
pub const CONTACT_PLACEHOLDER: &str = "{{contact}}";

/// One answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Article {
    pub id: String,
    pub title: String,
    /// Example phrasings visitors use; the classifier is trained on these.
    pub questions: Vec<String>,
    /// Follow-up suggestions shown as buttons (article titles resolve exactly).
    pub suggestions: Vec<String>,
    /// Plain https URLs appended to the answer as `More: <url>` lines.
    pub links: Vec<String>,
    /// Answering with this article hands the visitor to a person.
    pub handoff: bool,
    /// The answer text (plain text / light Markdown).
    pub body: String,
}

impl Article {
    /// The version of what this article shows a visitor: 12 hex digits of
    /// the SHA-256 of its title, body, links, suggestions and handoff flag
    /// (not its example questions, which change no answer's words). Records
    /// keep it beside each reply, so "which approved wording did this visitor
    /// see" has an answer after the article changes.
    pub fn version(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for part in [&self.id, &self.title, &self.body]
            .into_iter()
            .chain(&self.links)
            .chain(&self.suggestions)
        {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        hash.update([u8::from(self.handoff)]);
        hash.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A validated set of articles.
#[derive(Clone, Debug)]
pub struct KnowledgeBase {
    articles: Vec<Article>,
    /// The author's own examples for the duty-of-care signals (`care/` in
    /// the folder), added to the built-in ones.
    care: CareExamples,
    /// The author's out-of-scope examples ([`OUT_OF_SCOPE_FILE`] in the
    /// folder): questions its visitors ask that no article answers.
    out_of_scope: Vec<String>,
}

/// A knowledge-base folder's optional out-of-scope examples: one message a
/// line, `#` starting a comment line. They join the built-in general ones
/// in the out-of-scope class, so questions near them are handed off.
pub const OUT_OF_SCOPE_FILE: &str = "out-of-scope.txt";

/// The examples of an [`OUT_OF_SCOPE_FILE`].
fn parse_out_of_scope(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// What is wrong with a knowledge base.
#[derive(Debug, thiserror::Error)]
pub enum KbErrorKind {
    /// The directory could not be read, or a file could not be read.
    /// (The I/O error is the [`KbError`]'s source.)
    #[error("cannot read")]
    Io,
    /// The directory holds no `.md` files.
    #[error("no .md article files found")]
    EmptyDir,
    /// The front matter block is missing or malformed.
    #[error("bad front matter: {0}")]
    BadFrontMatter(String),
    /// A required front-matter field (`id`, `title`) is missing or empty.
    #[error("missing or empty field `{0}`")]
    MissingField(&'static str),
    /// `questions` is missing or has no usable question.
    #[error("no example `questions`")]
    NoQuestions,
    /// Nothing after the front matter.
    #[error("missing answer body after the front matter")]
    MissingBody,
    /// Another file already uses this id.
    #[error("duplicate id `{id}` (already used in {first_file})")]
    DuplicateId { id: String, first_file: String },
    /// A duty-of-care example file (`care/*.csv`) is malformed.
    #[error("{0}")]
    Care(String),
}

/// A knowledge-base loading error, naming the offending file. Its source is
/// the cause underneath the kind, where there is one (an I/O error).
#[derive(Debug, thiserror::Error)]
#[error("knowledge base: {file}: {kind}")]
pub struct KbError {
    /// File name (or directory for directory-level errors).
    pub file: String,
    pub kind: KbErrorKind,
    #[source]
    source: Option<std::io::Error>,
}

impl KbError {
    fn new(file: impl Into<String>, kind: KbErrorKind) -> Self {
        Self {
            file: file.into(),
            kind,
            source: None,
        }
    }

    fn io(file: impl Into<String>, error: std::io::Error) -> Self {
        Self {
            file: file.into(),
            kind: KbErrorKind::Io,
            source: Some(error),
        }
    }
}

/// `(file name, contents)` of each named file in `sample_kb/`, embedded.
macro_rules! sample_files {
    ($($name:literal),* $(,)?) => {
        &[$((concat!($name, ".md"), include_str!(concat!("sample_kb/", $name, ".md")))),*]
    };
}

/// The built-in sample knowledge base (sample content: replace for production),
/// in file-name order as [`KnowledgeBase::load_dir`] reads the folder, so the
/// built-in sample and `--kb assistant/src/sample_kb` train the same engine.
pub(crate) const SAMPLE_FILES: &[(&str, &str)] = sample_files![
    "about-chat",
    "application-status",
    "application-time",
    "capabilities",
    "complaints",
    "cost",
    "decisions",
    "goodbye",
    "greeting",
    "handoff",
    "other-products",
    "payment-difficulty",
    "personal-borrowing",
    "personal-guarantee",
    "privacy",
    "repayments",
    "support",
    "thanks",
    "what-we-offer",
    "what-you-need",
    "who-can-apply",
];

/// The sample's [`OUT_OF_SCOPE_FILE`]: near-domain questions it does not
/// answer (no near copy of a question of `tests/data/near_oos_dev.csv` or
/// `oos_dev.csv`, which measure it: a test in `eval.rs` checks).
const SAMPLE_OUT_OF_SCOPE: &str = include_str!("sample_kb/out-of-scope.txt");

impl KnowledgeBase {
    /// Validates a set of articles (used by `load_dir`, `sample` and the
    /// evaluation). `files[i]` names where article `i` came from.
    pub fn from_articles(
        articles: Vec<Article>,
        files: &[String],
    ) -> Result<KnowledgeBase, KbError> {
        let name = |i: usize| {
            files
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("article #{}", i + 1))
        };
        if articles.is_empty() {
            return Err(KbError::new(
                files.first().cloned().unwrap_or_else(|| "(none)".into()),
                KbErrorKind::EmptyDir,
            ));
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, a) in articles.iter().enumerate() {
            let err = |kind| Err(KbError::new(name(i), kind));
            if a.id.trim().is_empty() {
                return err(KbErrorKind::MissingField("id"));
            }
            if a.title.trim().is_empty() {
                return err(KbErrorKind::MissingField("title"));
            }
            if !a
                .questions
                .iter()
                .any(|q| !super::text::normalise(q).is_empty())
            {
                return err(KbErrorKind::NoQuestions);
            }
            if a.body.trim().is_empty() {
                return err(KbErrorKind::MissingBody);
            }
            if let Some(&first) = seen.get(a.id.as_str()) {
                return err(KbErrorKind::DuplicateId {
                    id: a.id.clone(),
                    first_file: name(first),
                });
            }
            seen.insert(&a.id, i);
        }
        Ok(KnowledgeBase {
            articles,
            care: CareExamples::default(),
            out_of_scope: Vec::new(),
        })
    }

    /// Loads every `*.md` file of `dir` (sorted by file name). Any problem
    /// fails the whole load; nothing is half-loaded.
    pub fn load_dir(dir: &Path) -> Result<KnowledgeBase, KbError> {
        let dir_name = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|e| KbError::io(&dir_name, e))?;
        let mut paths: Vec<PathBuf> = Vec::new();
        for e in entries {
            let e = e.map_err(|e| KbError::io(&dir_name, e))?;
            let p = e.path();
            if p.is_file() && p.extension().is_some_and(|x| x == "md") {
                paths.push(p);
            }
        }
        if paths.is_empty() {
            return Err(KbError::new(dir_name, KbErrorKind::EmptyDir));
        }
        paths.sort();
        let mut articles = Vec::new();
        let mut files = Vec::new();
        for p in paths {
            let file = p.display().to_string();
            let text = std::fs::read_to_string(&p).map_err(|e| KbError::io(&file, e))?;
            articles.push(parse_article(&text).map_err(|kind| KbError::new(&file, kind))?);
            files.push(file);
        }
        let mut kb = KnowledgeBase::from_articles(articles, &files)?;
        kb.care = load_care(dir)?;
        let path = dir.join(OUT_OF_SCOPE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => kb.out_of_scope = parse_out_of_scope(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(KbError::io(path.display().to_string(), e)),
        }
        Ok(kb)
    }

    /// Whether [`load_dir`](Self::load_dir) of `dir` reads `path`: its
    /// `*.md` files, `out-of-scope.txt`, and `care/`'s two files (or the
    /// `care` folder itself). A folder watcher reloads on changes to these
    /// and nothing else (say, an embeddings file kept in the same folder).
    pub fn reads(dir: &Path, path: &Path) -> bool {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        let is = |folder: &Path| same_folder(folder, parent);
        let care = dir.join("care");
        (is(dir)
            && (path.extension().is_some_and(|x| x == "md")
                || name == OUT_OF_SCOPE_FILE
                || name == "care"))
            || (is(&care) && (name == COMPLAINT_FILE || name == VULNERABILITY_FILE))
    }

    /// The built-in sample knowledge base (embedded in the binary).
    pub fn sample() -> KnowledgeBase {
        let mut articles = Vec::new();
        let mut files = Vec::new();
        for (name, text) in SAMPLE_FILES {
            let a =
                parse_article(text).unwrap_or_else(|kind| panic!("{}", KbError::new(*name, kind)));
            articles.push(a);
            files.push(format!("sample_kb/{name}"));
        }
        KnowledgeBase::from_articles(articles, &files)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_out_of_scope(SAMPLE_OUT_OF_SCOPE)
    }

    /// This knowledge base with `text` as its `out-of-scope.txt`.
    pub fn with_out_of_scope(self, text: &str) -> KnowledgeBase {
        KnowledgeBase {
            out_of_scope: parse_out_of_scope(text),
            ..self
        }
    }

    /// The author's out-of-scope examples (none without the file).
    pub fn out_of_scope(&self) -> &[String] {
        &self.out_of_scope
    }

    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    pub fn get(&self, id: &str) -> Option<&Article> {
        self.articles.iter().find(|a| a.id == id)
    }

    /// What the duty-of-care detectors learn from: the built-in examples
    /// and the author's (none for the sample).
    pub fn care_training(&self) -> CareExamples {
        let mut examples = CareExamples::builtin();
        examples.extend(&self.care);
        examples
    }
}

/// The questions of `a` dealt to fold `fold` of `folds` (`inside`), or to
/// every other fold.
pub fn held_out(
    a: &Article,
    folds: usize,
    fold: usize,
    inside: bool,
) -> impl Iterator<Item = &String> {
    dealt(&a.questions, folds, fold, inside)
}

/// The items dealt to fold `fold` of `folds` (item `i` to fold
/// `i mod folds`; `inside`), or to every other fold: the one way questions
/// and out-of-scope examples are held out.
fn dealt<T>(items: &[T], folds: usize, fold: usize, inside: bool) -> impl Iterator<Item = &T> {
    items
        .iter()
        .enumerate()
        .filter(move |(i, _)| (i % folds == fold) == inside)
        .map(|(_, item)| item)
}

/// Whether `a` and `b` name one folder (one may be relative, or reached
/// through a link: a watcher reports paths its own way).
fn same_folder(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (a.canonicalize(), b.canonicalize()),
            (Ok(a), Ok(b)) if a == b
        )
}

/// The optional `care/complaint.csv` and `care/vulnerability.csv` of a
/// knowledge-base folder.
fn load_care(dir: &Path) -> Result<CareExamples, KbError> {
    let folder = dir.join("care");
    let read = |name: &str| -> Result<Option<String>, KbError> {
        let path = folder.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KbError::io(path.display().to_string(), e)),
        }
    };
    let (complaint, vulnerability) = (read(COMPLAINT_FILE)?, read(VULNERABILITY_FILE)?);
    let origin = format!("{}/", folder.display());
    CareExamples::parse(complaint.as_deref(), vulnerability.as_deref(), &origin).map_err(|e| {
        KbError::new(
            folder.display().to_string(),
            KbErrorKind::Care(e.to_string()),
        )
    })
}

/// Why an example question could not be added to a knowledge base's file.
#[derive(Debug, thiserror::Error)]
pub enum KbEditError {
    #[error("no article has the id `{0}`")]
    UnknownArticle(String),
    #[error(
        "a question is one line of 1 to {MAX_QUESTION_CHARS} characters, without control characters"
    )]
    BadQuestion,
    #[error("`{0}` already has this question")]
    Duplicate(String),
    #[error(transparent)]
    Kb(#[from] KbError),
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The longest example question [`append_question`] takes, in characters.
pub const MAX_QUESTION_CHARS: usize = 300;

/// Adds `question` to the example questions of article `id`, in the file of
/// `dir` that holds it: one `  - "…"` line after its last question, the rest
/// of the file as it was. The file is replaced whole (written beside it,
/// then renamed), so a reader sees the old file or the new, never half.
/// The same question leaves `OUT_OF_SCOPE_FILE`, if it is there: taught
/// to an article, it would otherwise train the out-of-scope class against
/// its own answer. Returns the article's file.
pub fn append_question(dir: &Path, id: &str, question: &str) -> Result<PathBuf, KbEditError> {
    let question = question.trim();
    if question.is_empty()
        || question.chars().count() > MAX_QUESTION_CHARS
        || question.chars().any(char::is_control)
    {
        return Err(KbEditError::BadQuestion);
    }
    let kb = KnowledgeBase::load_dir(dir)?;
    let article = kb
        .get(id)
        .ok_or_else(|| KbEditError::UnknownArticle(id.to_owned()))?;
    let wanted = super::text::normalise(question);
    if article
        .questions
        .iter()
        .any(|q| super::text::normalise(q) == wanted)
    {
        return Err(KbEditError::Duplicate(id.to_owned()));
    }
    let path = kb_file_of(dir, id)?;
    let read_error = |e| KbError::io(path.display().to_string(), e);
    let text = std::fs::read_to_string(&path).map_err(read_error)?;
    let edited = with_question(&text, question)
        .ok_or_else(|| KbError::new(path.display().to_string(), KbErrorKind::NoQuestions))?;
    // The edit must read back as the same article with one more question.
    match parse_article(&edited) {
        Ok(a) if a.id == id && a.questions.len() == article.questions.len() + 1 => {}
        Ok(_) | Err(_) => return Err(KbEditError::BadQuestion),
    }
    replace_file(&path, &edited)?;
    forget_out_of_scope(dir, &wanted)?;
    Ok(path)
}

/// Removes from `dir`'s [`OUT_OF_SCOPE_FILE`] the lines that normalise to
/// `wanted`, comments and the rest as they were; nothing without the file
/// or such a line.
fn forget_out_of_scope(dir: &Path, wanted: &str) -> Result<(), KbEditError> {
    let path = dir.join(OUT_OF_SCOPE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(KbError::io(path.display().to_string(), e).into()),
    };
    let kept: String = text
        .split_inclusive('\n')
        .filter(|line| {
            parse_out_of_scope(line)
                .first()
                .is_none_or(|l| super::text::normalise(l) != wanted)
        })
        .collect();
    if kept.len() == text.len() {
        return Ok(());
    }
    replace_file(&path, &kept)
}

/// Replaces the file at `path` by `contents` whole: written beside it, then
/// renamed over it.
fn replace_file(path: &Path, contents: &str) -> Result<(), KbEditError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let write_error = |source| KbEditError::Write {
        path: path.to_owned(),
        source,
    };
    std::fs::write(&partial, contents).map_err(write_error)?;
    std::fs::rename(&partial, path).map_err(write_error)
}

/// The `.md` file of `dir` whose article has id `id`.
fn kb_file_of(dir: &Path, id: &str) -> Result<PathBuf, KbEditError> {
    let entries = std::fs::read_dir(dir).map_err(|e| KbError::io(dir.display().to_string(), e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "md")
            && let Ok(text) = std::fs::read_to_string(&path)
            && parse_article(&text).is_ok_and(|a| a.id == id)
        {
            return Ok(path);
        }
    }
    Err(KbEditError::UnknownArticle(id.to_owned()))
}

/// `text` (an article file) with `question` after the last item of its
/// `questions:` list; `None` if it has no such list.
fn with_question(text: &str, question: &str) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = lines.iter().position(|l| l.trim_end() == "questions:")?;
    let mut last = start;
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        let trimmed = line.trim();
        if trimmed.starts_with("- ") || trimmed == "-" {
            last = i;
        } else if !(trimmed.is_empty() || trimmed.starts_with('#')) {
            break;
        }
    }
    let quoted = question.replace('\\', "\\\\").replace('"', "\\\"");
    let newline = if lines[last].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut out = String::with_capacity(text.len() + question.len() + 8);
    for (i, line) in lines.iter().enumerate() {
        out.push_str(line);
        if i == last {
            if !line.ends_with('\n') {
                out.push_str(newline);
            }
            out.push_str(&format!("  - \"{quoted}\"{newline}"));
        }
    }
    Some(out)
}

fn unquote(v: &str) -> Result<String, String> {
    let v = v.trim();
    if let Some(inner) = v.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or_else(|| format!("unterminated double quote in {v}"))?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(o) => out.push(o),
                    None => return Err("dangling backslash".into()),
                }
            } else {
                out.push(c);
            }
        }
        Ok(out)
    } else if let Some(inner) = v.strip_prefix('\'') {
        let inner = inner
            .strip_suffix('\'')
            .ok_or_else(|| format!("unterminated single quote in {v}"))?;
        Ok(inner.replace("''", "'"))
    } else {
        Ok(v.to_string())
    }
}

/// Parses one article file: `---` front matter `---` then the body.
pub fn parse_article(text: &str) -> Result<Article, KbErrorKind> {
    let (front, body) = read_front_matter(text)?;
    article_from(front, &body)
}

/// The front matter's keys, as written: `key: value` scalars and
/// `key:` + `- item` lists.
#[derive(Default)]
struct FrontMatter {
    scalars: BTreeMap<String, String>,
    lists: BTreeMap<String, Vec<String>>,
}

const SCALAR_KEYS: [&str; 3] = ["id", "title", "handoff"];
const LIST_KEYS: [&str; 3] = ["questions", "suggestions", "links"];

fn bad(message: String) -> KbErrorKind {
    KbErrorKind::BadFrontMatter(message)
}

/// Reads the front-matter block (the YAML subset of the module docs) and
/// returns it with the body after it. Checks syntax and key names only.
fn read_front_matter(text: &str) -> Result<(FrontMatter, String), KbErrorKind> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    match lines.next() {
        Some(l) if l.trim_end() == "---" => {}
        _ => return Err(bad("file must start with a `---` line".into())),
    }
    let mut front = FrontMatter::default();
    let mut current_list: Option<String> = None;
    let mut line_no = 1;
    for line in lines.by_ref() {
        line_no += 1;
        if line.trim_end() == "---" {
            return Ok((front, lines.collect::<Vec<_>>().join("\n")));
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(item) =
            trimmed
                .strip_prefix("- ")
                .or(if trimmed == "-" { Some("") } else { None })
        {
            let key = current_list
                .as_ref()
                .ok_or_else(|| bad(format!("line {line_no}: list item outside a list")))?;
            let v = unquote(item).map_err(|e| bad(format!("line {line_no}: {e}")))?;
            if !v.trim().is_empty() {
                front
                    .lists
                    .get_mut(key)
                    .expect("list exists")
                    .push(v.trim().to_string());
            }
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            return Err(bad(format!("line {line_no}: unexpected indentation")));
        }
        let (key, value) = trimmed
            .split_once(':')
            .ok_or_else(|| bad(format!("line {line_no}: expected `key: value`")))?;
        let key = key.trim().to_string();
        if front.scalars.contains_key(&key) || front.lists.contains_key(&key) {
            return Err(bad(format!("line {line_no}: `{key}` given twice")));
        }
        if LIST_KEYS.contains(&key.as_str()) {
            if !value.trim().is_empty() {
                return Err(bad(format!(
                    "line {line_no}: `{key}` must be a list of `- item` lines"
                )));
            }
            front.lists.insert(key.clone(), Vec::new());
            current_list = Some(key);
        } else if SCALAR_KEYS.contains(&key.as_str()) {
            current_list = None;
            let v = unquote(value).map_err(|e| bad(format!("line {line_no}: {e}")))?;
            front.scalars.insert(key, v.trim().to_string());
        } else {
            return Err(bad(format!("line {line_no}: unknown key `{key}`")));
        }
    }
    Err(bad("no closing `---` line".into()))
}

/// One article from its front matter and body: required fields present,
/// values of the right form.
fn article_from(mut front: FrontMatter, body: &str) -> Result<Article, KbErrorKind> {
    let body = body.trim().to_string();
    let id = front.scalars.remove("id").unwrap_or_default();
    if id.is_empty() {
        return Err(KbErrorKind::MissingField("id"));
    }
    if id.chars().any(char::is_whitespace) {
        return Err(bad(format!("id `{id}` must not contain spaces")));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(bad(format!(
            "id `{id}` is longer than {MAX_ID_BYTES} bytes (ids are kept with every conversation turn)"
        )));
    }
    let title = front.scalars.remove("title").unwrap_or_default();
    if title.is_empty() {
        return Err(KbErrorKind::MissingField("title"));
    }
    let handoff = match front.scalars.remove("handoff").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(o) => return Err(bad(format!("`handoff` must be true or false, not `{o}`"))),
    };
    let questions = front.lists.remove("questions").unwrap_or_default();
    if questions.is_empty() {
        return Err(KbErrorKind::NoQuestions);
    }
    let links = front.lists.remove("links").unwrap_or_default();
    if let Some(l) = links.iter().find(|l| !l.starts_with("https://")) {
        return Err(bad(format!("link `{l}` must be an https:// URL")));
    }
    if body.is_empty() {
        return Err(KbErrorKind::MissingBody);
    }
    Ok(Article {
        id,
        title,
        questions,
        suggestions: front.lists.remove("suggestions").unwrap_or_default(),
        links,
        handoff,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "---\nid: a\ntitle: \"A: title\"\nquestions:\n  - first?\n  - 'second'\nsuggestions:\n  - B title\nlinks:\n  - https://example.com/a\n---\nBody text.\n";

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("kbtest-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn parses_front_matter() {
        let a = parse_article(GOOD).unwrap();
        assert_eq!(a.id, "a");
        assert_eq!(a.title, "A: title");
        assert_eq!(a.questions, vec!["first?", "second"]);
        assert_eq!(a.suggestions, vec!["B title"]);
        assert_eq!(a.links, vec!["https://example.com/a"]);
        assert_eq!(a.body, "Body text.");
        assert!(!a.handoff);
    }

    #[test]
    fn a_folder_is_read_from_its_articles_out_of_scope_examples_and_care_files_only() {
        let dir = Path::new("kb");
        for read in [
            "kb/loans.md",
            "kb/out-of-scope.txt",
            "kb/care",
            "kb/care/complaint.csv",
            "kb/care/vulnerability.csv",
        ] {
            assert!(KnowledgeBase::reads(dir, Path::new(read)), "{read}");
        }
        for ignored in [
            "kb/embeddings.bin",
            "kb/notes.txt",
            "kb/.loans.md.swp",
            "kb/care/other.csv",
            "kb/drafts/loans.md",
            "elsewhere/loans.md",
            "kb",
        ] {
            assert!(!KnowledgeBase::reads(dir, Path::new(ignored)), "{ignored}");
        }
    }

    #[test]
    fn load_dir_ok_and_sorted() {
        let d = tmpdir("ok");
        std::fs::write(d.join("b.md"), GOOD.replace("id: a", "id: b")).unwrap();
        std::fs::write(d.join("a.md"), GOOD).unwrap();
        std::fs::write(d.join("notes.txt"), "ignored").unwrap();
        let kb = KnowledgeBase::load_dir(&d).unwrap();
        let ids: Vec<&str> = kb.articles().iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, vec!["a", "b"]);
        assert!(kb.out_of_scope().is_empty(), "no out-of-scope.txt");
    }

    #[test]
    fn a_folders_out_of_scope_file_gives_its_lines_comments_and_blanks_aside() {
        let d = tmpdir("oos");
        std::fs::write(d.join("a.md"), GOOD).unwrap();
        std::fs::write(
            d.join(OUT_OF_SCOPE_FILE),
            "# the company\nwhat is your share price\n\n  are you hiring  \n",
        )
        .unwrap();
        let kb = KnowledgeBase::load_dir(&d).unwrap();
        assert_eq!(
            kb.out_of_scope(),
            ["what is your share price", "are you hiring"]
        );
    }

    fn load_err(files: &[(&str, &str)]) -> KbError {
        let d = tmpdir(files.first().map(|f| f.0).unwrap_or("empty"));
        for (n, t) in files {
            std::fs::write(d.join(n), t).unwrap();
        }
        KnowledgeBase::load_dir(&d).unwrap_err()
    }

    #[test]
    fn error_empty_dir() {
        let e = load_err(&[]);
        assert!(matches!(e.kind, KbErrorKind::EmptyDir));
        assert!(e.to_string().contains("no .md"));
    }

    #[test]
    fn error_missing_dir() {
        let e = KnowledgeBase::load_dir(Path::new("/nonexistent/kb-dir")).unwrap_err();
        assert!(matches!(e.kind, KbErrorKind::Io));
        assert!(
            std::error::Error::source(&e).is_some(),
            "the I/O error is kept"
        );
    }

    #[test]
    fn error_duplicate_id_names_both_files() {
        let e = load_err(&[("dup1.md", GOOD), ("dup2.md", GOOD)]);
        assert!(matches!(e.kind, KbErrorKind::DuplicateId { .. }));
        let msg = e.to_string();
        assert!(msg.contains("dup2.md") && msg.contains("dup1.md"), "{msg}");
    }

    #[test]
    fn error_missing_body() {
        let e = load_err(&[(
            "nobody.md",
            "---\nid: a\ntitle: A\nquestions:\n  - q\n---\n  \n",
        )]);
        assert!(matches!(e.kind, KbErrorKind::MissingBody));
        assert!(e.to_string().contains("nobody.md"));
    }

    #[test]
    fn error_no_questions() {
        let e = load_err(&[("noq.md", "---\nid: a\ntitle: A\nquestions:\n---\nBody\n")]);
        assert!(matches!(e.kind, KbErrorKind::NoQuestions));
        let e = load_err(&[("noq2.md", "---\nid: a\ntitle: A\n---\nBody\n")]);
        assert!(matches!(e.kind, KbErrorKind::NoQuestions));
        let e = load_err(&[(
            "noq3.md",
            "---\nid: a\ntitle: A\nquestions:\n  - \"?!\"\n---\nBody\n",
        )]);
        assert!(matches!(e.kind, KbErrorKind::NoQuestions));
    }

    #[test]
    fn error_bad_front_matter() {
        for (name, text) in [
            ("nofm.md", "Just a body"),
            (
                "unclosed.md",
                "---\nid: a\ntitle: A\nquestions:\n  - q\nBody",
            ),
            (
                "unknown.md",
                "---\nid: a\ntitel: A\nquestions:\n  - q\n---\nBody",
            ),
            ("noval.md", "---\nid a\n---\nBody"),
            (
                "badlink.md",
                "---\nid: a\ntitle: A\nquestions:\n  - q\nlinks:\n  - http://x\n---\nB",
            ),
            (
                "quote.md",
                "---\nid: \"a\ntitle: A\nquestions:\n  - q\n---\nB",
            ),
            (
                "longid.md",
                "---\nid: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\ntitle: A\nquestions:\n  - q\n---\nB",
            ),
        ] {
            let e = load_err(&[(name, text)]);
            assert!(
                matches!(e.kind, KbErrorKind::BadFrontMatter(_)),
                "{name}: {e}"
            );
            assert!(e.to_string().contains(name));
        }
    }

    #[test]
    fn error_missing_id_or_title() {
        let e = load_err(&[("noid.md", "---\ntitle: A\nquestions:\n  - q\n---\nB")]);
        assert!(matches!(e.kind, KbErrorKind::MissingField("id")));
        let e = load_err(&[("notitle.md", "---\nid: a\nquestions:\n  - q\n---\nB")]);
        assert!(matches!(e.kind, KbErrorKind::MissingField("title")));
    }

    #[test]
    fn nothing_half_loaded() {
        // One good file and one bad file: the whole load fails.
        let e = load_err(&[("a.md", GOOD), ("z.md", "---\nid: z\n---\n")]);
        assert!(e.to_string().contains("z.md"));
    }

    #[test]
    fn error_is_std_error() {
        let e: Box<dyn std::error::Error> = Box::new(load_err(&[]));
        assert!(!e.to_string().is_empty());
    }

    #[test]
    fn an_articles_version_follows_its_words_not_its_example_questions() {
        let a = parse_article(GOOD).unwrap();
        assert_eq!(a.version().len(), 12);
        let more_questions = Article {
            questions: vec!["another?".into()],
            ..a.clone()
        };
        assert_eq!(more_questions.version(), a.version());
        let reworded = Article {
            body: "Other words.".into(),
            ..a.clone()
        };
        assert_ne!(reworded.version(), a.version());
        let relinked = Article {
            links: vec![],
            ..a.clone()
        };
        assert_ne!(relinked.version(), a.version());
    }

    #[test]
    fn a_question_is_appended_to_its_articles_file_and_nothing_else_changes() {
        let d = tmpdir("append");
        std::fs::write(d.join("a.md"), GOOD).unwrap();
        std::fs::write(d.join("b.md"), GOOD.replace("id: a", "id: b")).unwrap();
        let file = append_question(&d, "a", r#"Do you lend to "charities"?"#).unwrap();
        assert_eq!(file, d.join("a.md"));
        let kb = KnowledgeBase::load_dir(&d).unwrap();
        assert_eq!(
            kb.get("a").unwrap().questions,
            ["first?", "second", r#"Do you lend to "charities"?"#]
        );
        assert_eq!(kb.get("b").unwrap().questions, ["first?", "second"]);
        let text = std::fs::read_to_string(d.join("a.md")).unwrap();
        assert!(text.ends_with("---\nBody text.\n"), "{text}");
        assert!(!d.join("a.md.partial").exists());
    }

    #[test]
    fn a_question_taught_to_an_article_leaves_the_out_of_scope_examples() {
        let d = tmpdir("append-oos");
        std::fs::write(d.join("a.md"), GOOD).unwrap();
        let examples = "# near the domain\nDo you do invoice finance?\nwhat's your share price\n  do you do INVOICE finance  \n";
        std::fs::write(d.join(OUT_OF_SCOPE_FILE), examples).unwrap();
        append_question(&d, "a", "do you do invoice finance").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join(OUT_OF_SCOPE_FILE)).unwrap(),
            "# near the domain\nwhat's your share price\n"
        );
        assert!(!d.join("out-of-scope.txt.partial").exists());
        // Another question leaves the file as it was; so does a folder without one.
        append_question(&d, "a", "can a charity apply").unwrap();
        let kb = KnowledgeBase::load_dir(&d).unwrap();
        assert_eq!(kb.out_of_scope(), ["what's your share price"]);
        std::fs::remove_file(d.join(OUT_OF_SCOPE_FILE)).unwrap();
        append_question(&d, "a", "a third").unwrap();
        assert!(!d.join(OUT_OF_SCOPE_FILE).exists());
    }

    #[test]
    fn an_unknown_article_a_duplicate_or_a_bad_question_is_refused() {
        let d = tmpdir("refuse");
        std::fs::write(d.join("a.md"), GOOD).unwrap();
        assert!(matches!(
            append_question(&d, "zzz", "q?"),
            Err(KbEditError::UnknownArticle(_))
        ));
        assert!(matches!(
            append_question(&d, "a", "  FIRST  "),
            Err(KbEditError::Duplicate(_))
        ));
        for bad in [
            "",
            "two\nlines",
            &"x".repeat(MAX_QUESTION_CHARS + 1),
            "a\u{7}b",
        ] {
            assert!(
                matches!(append_question(&d, "a", bad), Err(KbEditError::BadQuestion)),
                "{bad:?}"
            );
        }
        assert_eq!(std::fs::read_to_string(d.join("a.md")).unwrap(), GOOD);
    }

    #[test]
    fn sample_loads() {
        let kb = KnowledgeBase::sample();
        assert!(kb.articles().len() >= 15);
        assert!(kb.get(HANDOFF_ARTICLE_ID).is_some());
        for a in kb.articles() {
            assert!(
                (8..=20).contains(&a.questions.len()),
                "{} has {} questions",
                a.id,
                a.questions.len()
            );
        }
        // Every sample suggestion is an article title, so it resolves exactly.
        for a in kb.articles() {
            for sug in &a.suggestions {
                assert!(
                    kb.articles().iter().any(|b| &b.title == sug),
                    "{}: {sug}",
                    a.id
                );
            }
        }
        for (name, text) in SAMPLE_FILES {
            assert!(
                text.contains("# Sample content"),
                "{name} not marked as sample"
            );
        }
        // The contact details live only in the handoff article.
        for a in kb.articles().iter().filter(|a| a.id != HANDOFF_ARTICLE_ID) {
            assert!(
                !a.body.contains("example.com") && !a.body.contains("0800"),
                "{}",
                a.id
            );
        }
    }

    #[test]
    fn the_built_in_sample_is_its_folder_loaded_every_file_in_the_same_order() {
        let folder = crate::test_support::repository_root().join("assistant/src/sample_kb");
        let loaded = KnowledgeBase::load_dir(&folder).unwrap();
        let built_in = KnowledgeBase::sample();
        let versions = |kb: &KnowledgeBase| -> Vec<(String, String)> {
            kb.articles()
                .iter()
                .map(|a| (a.id.clone(), a.version()))
                .collect()
        };
        assert_eq!(versions(&built_in), versions(&loaded));
        assert_eq!(built_in.out_of_scope(), loaded.out_of_scope());
    }
}
