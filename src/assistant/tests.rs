//! Engine-level tests: sample knowledge base answers, thresholds,
//! clarification, multi-turn behaviour and handoffs.

use super::*;
use std::sync::OnceLock;

fn sample() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new(KnowledgeBase::sample()))
}

fn answered(turn: &Turn) -> Option<&str> {
    match &turn.outcome {
        Outcome::Answered { article } => Some(article),
        _ => None,
    }
}

fn contact() -> String {
    KnowledgeBase::sample()
        .get(HANDOFF_ARTICLE_ID)
        .unwrap()
        .body
        .clone()
}

#[test]
fn sample_answers_common_questions() {
    let e = sample();
    for (q, id) in [
        ("How long does an application take?", "application-time"),
        ("do I need a personal guarantee", "personal-guarantee"),
        ("Who can apply?", "who-can-apply"),
        ("what documents do I need to apply", "what-you-need"),
        ("what's your interest rate?", "cost"),
        ("how do I complain", "complaints"),
        ("do I need an account to chat", "about-chat"),
    ] {
        let (r, t) = e.reply(q, &[]);
        assert_eq!(answered(&t), Some(id), "{q}: {t:?}");
        assert!(!r.handoff, "{q}");
        assert!(!r.text.is_empty());
    }
}

#[test]
fn greetings_thanks_goodbyes() {
    let e = sample();
    for (q, id) in [
        ("hello", "greeting"),
        ("Hi there!", "greeting"),
        ("good morning", "greeting"),
        ("thanks a lot", "thanks"),
        ("bye", "goodbye"),
    ] {
        let (_, t) = e.reply(q, &[]);
        assert_eq!(answered(&t), Some(id), "{q}: {t:?}");
    }
}

#[test]
fn talk_to_a_person_hands_off_with_contact() {
    let e = sample();
    let (r, t) = e.reply("can I speak to a person", &[]);
    assert_eq!(answered(&t), Some(HANDOFF_ARTICLE_ID));
    assert!(r.handoff);
    assert!(r.text.contains("support@example.com"));
    assert!(r.text.contains("0800 000 0000"));
}

#[test]
fn out_of_scope_hands_off() {
    let e = sample();
    for q in [
        "what's the weather in Paris",
        "tell me a joke",
        "write a python function to sort a list",
        "give me a recipe for chocolate cake",
        "which crypto coin should I buy",
    ] {
        let (r, t) = e.reply(q, &[]);
        assert!(r.handoff, "{q}: {t:?}");
        assert!(matches!(t.outcome, Outcome::Handoff { .. }), "{q}: {t:?}");
        assert!(r.text.contains(&contact()), "{q}");
    }
}

#[test]
fn replies_never_echo_input() {
    let e = sample();
    for q in ["zqxjv wibble", "hello zqxjv", "personal guarantee zqxjv?"] {
        let (r, _) = e.reply(q, &[]);
        assert!(!r.text.to_lowercase().contains("zqxjv"), "{q}");
        assert!(
            r.suggestions
                .iter()
                .all(|s| !s.to_lowercase().contains("zqxjv"))
        );
    }
}

#[test]
fn empty_or_punctuation_only_hands_off() {
    let (r, t) = sample().reply("?!", &[]);
    assert!(r.handoff);
    assert_eq!(
        t.outcome,
        Outcome::Handoff {
            out_of_scope: false
        }
    );
}

#[test]
fn links_are_appended() {
    let a = Article {
        id: "a".into(),
        title: "Alpha".into(),
        questions: vec!["alpha question".into()],
        suggestions: vec![],
        links: vec!["https://example.com/alpha".into()],
        handoff: false,
        body: "Alpha answer.".into(),
    };
    let kb = KnowledgeBase::from_articles(vec![a], &[]).unwrap();
    let e = Engine::new(kb);
    let (r, _) = e.reply("Alpha", &[]);
    assert_eq!(r.text, "Alpha answer.\nMore: https://example.com/alpha");
}

fn two_close_articles() -> KnowledgeBase {
    let mk = |id: &str, title: &str, qs: &[&str]| Article {
        id: id.into(),
        title: title.into(),
        questions: qs.iter().map(|s| s.to_string()).collect(),
        suggestions: vec![],
        links: vec![],
        handoff: false,
        body: format!("Answer {id}"),
    };
    KnowledgeBase::from_articles(
        vec![
            mk(
                "card-fee",
                "Card fees",
                &["what is the card fee", "fee for card", "card charges"],
            ),
            mk(
                "transfer-fee",
                "Transfer fees",
                &[
                    "what is the transfer fee",
                    "fee for transfer",
                    "transfer charges",
                ],
            ),
        ],
        &[],
    )
    .unwrap()
}

#[test]
fn close_scores_ask_for_clarification_and_choice_resolves() {
    let cfg = EngineConfig {
        clarify_gap: 0.5,
        clarify_min_pair: 0.0,
        temperature: 5.0,
        min_margin: -10.0,
        use_oos_class: false,
        ..EngineConfig::default()
    };
    let e = Engine::with_config(two_close_articles(), cfg);
    let (r, t) = e.reply("what is the fee", &[]);
    assert!(!r.handoff);
    match &t.outcome {
        Outcome::Clarify { candidates } => assert_eq!(candidates.len(), 2),
        o => panic!("expected clarification, got {o:?}"),
    }
    let mut titles = r.suggestions.clone();
    titles.sort();
    assert_eq!(titles, vec!["Card fees", "Transfer fees"]);
    // The visitor picks a suggestion: exact title text resolves it.
    let (r2, t2) = e.reply("Transfer fees", &[t]);
    assert_eq!(answered(&t2), Some("transfer-fee"));
    assert_eq!(r2.text, "Answer transfer-fee");
}

#[test]
fn thresholds_control_answer_and_handoff() {
    // Same engine, stricter margin: the answer becomes a handoff.
    let strict = EngineConfig {
        min_margin: 5.0,
        ..EngineConfig::default()
    };
    let e = Engine::with_config(two_close_articles(), strict);
    let (r, t) = e.reply("what is the transfer fee", &[]);
    assert!(r.handoff);
    assert_eq!(
        t.outcome,
        Outcome::Handoff {
            out_of_scope: false
        }
    );
    assert!(r.text.contains(DEFAULT_CONTACT));

    let e = Engine::new(two_close_articles());
    let (r, t) = e.reply("what is the transfer fee", &[]);
    assert!(!r.handoff);
    assert_eq!(answered(&t), Some("transfer-fee"));
    assert!(t.confidence > 0.5);
    // An impossible answer threshold never answers outright.
    let cfg = EngineConfig {
        answer_threshold: 1.1,
        clarify_gap: 0.0,
        ..EngineConfig::default()
    };
    let (_, t) =
        Engine::with_config(two_close_articles(), cfg).reply("what is the transfer fee", &[]);
    assert!(answered(&t).is_none());
}

#[test]
fn short_follow_up_uses_previous_question() {
    let e = sample();
    let (_, alone) = e.reply("what about sole traders?", &[]);
    assert_ne!(answered(&alone), Some("who-can-apply"));
    let (_, first) = e.reply("Who can apply?", &[]);
    assert_eq!(answered(&first), Some("who-can-apply"));
    let (r, t) = e.reply("what about sole traders?", &[first]);
    assert_eq!(answered(&t), Some("who-can-apply"), "{t:?}");
    assert!(!r.handoff);
    // Turns remember the normalised message, not the raw text.
    assert_eq!(t.message, "what about sole traders");
}

#[test]
fn follow_up_does_not_override_clear_out_of_scope() {
    let e = sample();
    let (_, first) = e.reply("can I speak to a person", &[]);
    let (r, t) = e.reply("what's the weather in Paris", &[first]);
    assert!(r.handoff);
    assert_eq!(t.outcome, Outcome::Handoff { out_of_scope: true });
}

#[test]
fn repeated_handoffs_put_contact_first() {
    let e = sample();
    let (r1, t1) = e.reply("tell me a joke", &[]);
    assert!(r1.handoff && r1.text.starts_with("Sorry"));
    let (r2, t2) = e.reply("who won the football last night", std::slice::from_ref(&t1));
    assert!(r2.handoff);
    assert!(
        r2.text.starts_with("It looks like I can't help"),
        "{}",
        r2.text
    );
    assert!(r2.text.contains("support@example.com"));
    assert!(r2.suggestions.is_empty());
    let (r3, _) = e.reply("give me a lasagne recipe", &[t1, t2]);
    assert!(r3.text.starts_with("It looks like I can't help"));
}

#[test]
fn deterministic_across_engines() {
    let a = Engine::new(KnowledgeBase::sample());
    let b = sample();
    for q in [
        "how long does it take",
        "hmm",
        "is it secured",
        "what about fees",
    ] {
        assert_eq!(a.reply(q, &[]), b.reply(q, &[]));
    }
}

#[test]
fn engine_is_an_assistant() {
    fn takes(_: &dyn Assistant) {}
    takes(sample());
    let boxed: Box<dyn Assistant> = Box::new(Engine::new(two_close_articles()));
    let (r, _) = boxed.reply("hello", &[]);
    assert!(!r.text.is_empty());
}
