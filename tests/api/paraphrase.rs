//! The encoder at work through the real endpoint: a visitor's question that
//! shares no word with any example question of the knowledge base is still
//! answered with the right article.

use std::collections::BTreeSet;

use serde_json::json;
use support_chat_assistant::{KnowledgeBase, normalise};

use crate::helpers::*;

/// (paraphrase, the article that answers it). No word of a paraphrase is in
/// any example question or title of the sample knowledge base (checked below).
const PARAPHRASES: [(&str, &str); 8] = [
    ("annual percentage charged", "cost"),
    ("telephone assistance", "handoff"),
    ("records retention", "privacy"),
    ("partnerships allowed?", "who-can-apply"),
    ("processing duration", "application-time"),
    ("overdue remittance", "payment-difficulty"),
    ("guarantor obligations", "personal-guarantee"),
    ("underwriting verdict", "decisions"),
];

fn words(text: &str) -> BTreeSet<String> {
    normalise(text).split(' ').map(str::to_owned).collect()
}

#[tokio::test]
async fn paraphrases_that_share_no_word_with_any_example_question_are_answered_with_the_right_article()
 {
    let kb = KnowledgeBase::sample();
    let known: BTreeSet<String> = kb
        .articles()
        .iter()
        .flat_map(|a| a.questions.iter().chain([&a.title]))
        .flat_map(|q| words(q))
        .collect();
    let addr = spawn(setup().await).await;
    for (paraphrase, id) in PARAPHRASES {
        let shared: Vec<_> = words(paraphrase).intersection(&known).cloned().collect();
        assert!(shared.is_empty(), "{paraphrase:?} shares {shared:?}");
        let reply = chat(addr, &json!({ "message": paraphrase })).await;
        assert_eq!(reply.status, 200);
        let reply = reply.json();
        let body = &kb.get(id).unwrap().body;
        let opening = &body[..body.find('\n').unwrap_or(body.len()).min(60)];
        let text = reply["reply"].as_str().unwrap();
        assert!(
            text.starts_with(opening),
            "{paraphrase:?} should be answered by {id}, got {text:?}"
        );
    }
}
