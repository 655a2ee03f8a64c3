//! The out-of-scope rule: a threshold fitted to the knowledge base's own
//! questions when it loads, or given.

use super::*;

/// The sample with the near-domain examples written for it as its
/// `out-of-scope.txt` (they stay out of the built-in sample for now:
/// BENCHMARKS.md, "Out of scope").
fn sample_with_own_examples(cfg: EngineConfig) -> Engine {
    let own = std::fs::read_to_string(
        crate::test_support::repository_root().join("tests/data/near_oos_train.txt"),
    )
    .unwrap();
    let kb = KnowledgeBase::sample().with_out_of_scope(&own);
    assert!(
        kb.out_of_scope().len() > 100,
        "the file's examples, comments aside"
    );
    Engine::with_config(kb, cfg, Some(test_encoder()))
}

#[test]
fn a_fitted_threshold_hands_off_a_near_domain_question_and_answers_the_knowledge_bases_own() {
    let engine = sample_with_own_examples(EngineConfig {
        scope_target: Some(0.05),
        ..EngineConfig::default()
    });
    let threshold = engine.scope_threshold().expect("fitted");
    assert!(threshold.is_finite(), "{threshold}");
    for question in [
        "what is your share price today",
        "can you help me file my VAT return",
        "are you hiring at the moment?",
    ] {
        let answer = engine.reply(&m(question), &[]);
        assert!(
            answer.reply.handoff,
            "{question}: {:?} (score {} under {threshold}?)",
            answer.turn,
            engine.scope(question).score
        );
    }
    let answer = engine.reply(&m("how long does an application take?"), &[]);
    assert_eq!(answered(&answer.turn), Some("application-time"));
    assert!(!answer.reply.handoff);
}

#[test]
fn the_fitted_threshold_hands_off_about_the_target_share_of_held_out_own_questions() {
    let engine = sample_with_own_examples(EngineConfig {
        scope_target: Some(0.05),
        ..EngineConfig::default()
    });
    let threshold = engine.scope_threshold().unwrap();
    let held = engine.held_out_scope();
    let handed = held
        .iter()
        .filter(|(score, other)| *other || *score < threshold)
        .count();
    assert!(
        handed as f32 <= 0.05 * held.len() as f32 + 1.0,
        "{handed} of {}",
        held.len()
    );
}

#[test]
fn a_given_threshold_is_used_as_it_is_and_without_a_target_there_is_no_rule() {
    let given = Engine::with_config(
        KnowledgeBase::sample(),
        EngineConfig {
            scope_target: Some(0.05),
            scope_threshold: Some(0.25),
            ..EngineConfig::default()
        },
        Some(test_encoder()),
    );
    assert_eq!(given.scope_threshold(), Some(0.25));
    assert_eq!(sample().scope_threshold(), None, "off by default");
    let lexical = Engine::with_config(
        KnowledgeBase::sample(),
        EngineConfig {
            scope_target: Some(0.05),
            ..EngineConfig::default()
        },
        None,
    );
    assert_eq!(
        lexical.scope_threshold(),
        None,
        "the rule needs the encoder"
    );
}

#[test]
fn check_kb_reports_the_threshold_each_target_fits_in_order() {
    let check = crate::check_kb(&KnowledgeBase::sample(), 5, 1.0, Some(&test_encoder())).unwrap();
    let scope = check.scope.as_ref().expect("with the encoder");
    assert!(scope.questions > 200, "{scope:?}");
    let targets: Vec<f32> = scope.thresholds.iter().map(|(t, _)| *t).collect();
    assert_eq!(targets, [0.02, 0.05, 0.10]);
    let thresholds: Vec<f32> = scope.thresholds.iter().map(|(_, t)| *t).collect();
    assert!(
        thresholds.windows(2).all(|w| w[0] <= w[1]),
        "{thresholds:?}"
    );
    assert!(
        check
            .to_string()
            .contains("Out-of-scope rule (--handoff-target)")
    );
}
