//! Multi-turn conversations through the real endpoint: the session carries
//! the context the assistant needs.

use serde_json::{Value, json};

use crate::helpers::*;

async fn say(addr: std::net::SocketAddr, message: &str, session: Option<&str>) -> Value {
    let reply = chat(addr, &json!({ "message": message, "session": session })).await;
    assert_eq!(reply.status, 200, "{message}");
    reply.json()
}

#[tokio::test]
async fn a_short_follow_up_is_read_in_the_context_of_the_previous_question() {
    let addr = spawn(setup().await).await;
    let alone = say(addr, "and for directors?", None).await;
    let first = say(addr, "Do I need a personal guarantee?", None).await;
    let session = first["session"].as_str().unwrap();
    let follow_up = say(addr, "and for directors?", Some(session)).await;
    assert_eq!(follow_up["session"], session);
    assert_eq!(follow_up["handoff"], false, "{follow_up}");
    assert_eq!(
        follow_up["reply"], first["reply"],
        "answered as 'do I need a personal guarantee'"
    );
    assert_ne!(
        alone["reply"], first["reply"],
        "without the context it is not"
    );
}

#[tokio::test]
async fn how_long_does_that_take_follows_the_topic_of_the_conversation() {
    let addr = spawn(setup().await).await;
    let complaint = say(addr, "How do I complain?", None).await;
    let session = complaint["session"].as_str().unwrap();
    let follow_up = say(addr, "and how long does that take?", Some(session)).await;
    let application = say(addr, "How long does an application take?", None).await;
    assert_eq!(follow_up["handoff"], false);
    assert_ne!(
        follow_up["reply"], application["reply"],
        "not the application timings:\n{follow_up}"
    );
    assert!(
        follow_up["reply"].as_str().unwrap().contains("complaint"),
        "{follow_up}"
    );
}

#[tokio::test]
async fn a_chosen_suggestion_is_answered_directly() {
    let addr = spawn(setup().await).await;
    let greeting = say(addr, "hello", None).await;
    let suggestions = greeting["suggestions"].as_array().unwrap();
    assert!(!suggestions.is_empty(), "{greeting}");
    let session = greeting["session"].as_str().unwrap();
    for suggestion in suggestions {
        let chosen = say(addr, suggestion.as_str().unwrap(), Some(session)).await;
        let direct = say(addr, suggestion.as_str().unwrap(), None).await;
        assert_eq!(chosen["reply"], direct["reply"], "{suggestion}");
        assert_eq!(chosen["session"], session);
    }
}

#[tokio::test]
async fn repeated_handoffs_put_the_human_contact_first() {
    let addr = spawn(setup().await).await;
    let first = say(addr, "tell me a joke", None).await;
    assert_eq!(first["handoff"], true);
    let session = first["session"].as_str().unwrap();
    let second = say(addr, "who won the football last night", Some(session)).await;
    assert_eq!(second["handoff"], true);
    let contact_at = |reply: &Value| reply["reply"].as_str().unwrap().find("support@example.com");
    assert!(contact_at(&first).is_some() && contact_at(&second).is_some());
    assert!(
        contact_at(&second) < contact_at(&first),
        "the second handoff leads with the contact:\n{second}"
    );
}

#[tokio::test]
async fn asking_for_a_person_hands_off_with_the_contact_and_the_weather_is_out_of_scope() {
    let addr = spawn(setup().await).await;
    let person = say(addr, "Can I speak to a person?", None).await;
    assert_eq!(person["handoff"], true);
    assert!(person["reply"].as_str().unwrap().contains("0800 000 0000"));
    let weather = say(addr, "What's the weather in Paris tomorrow?", None).await;
    assert_eq!(weather["handoff"], true);
    let guarantee = say(addr, "Do I need a personal guarantee?", None).await;
    assert_eq!(guarantee["handoff"], false);
    assert!(
        guarantee["reply"]
            .as_str()
            .unwrap()
            .contains("personal guarantee")
    );
}
