//! Conversations: an answer's follow-ups see the earlier turns; each completed exchange is
//! stored (a failed answer stores nothing, so a question never shows without its reply).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use super::answer::prompt::Message;
use super::answer::{answer, answer_whole, AnswerEvent, AskRequest, Citation, Reply};
use super::auth::Caller;
use super::knowledge_bases;
use super::{AppState, State};
use crate::error::{Error, Result};
use crate::store::Conversation;

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    pub knowledge_bases: Vec<String>,
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub question: String,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub top_k: Option<usize>,
}

/// A conversation without its messages.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationView {
    pub id: String,
    pub title: String,
    pub knowledge_bases: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Conversation> for ConversationView {
    fn from(c: Conversation) -> Self {
        Self {
            knowledge_bases: c.kb_ids(),
            id: c.id,
            title: c.title,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageView {
    pub role: String,
    pub content: String,
    pub reasoning: Option<String>,
    pub citations: Value,
    pub created_at: String,
}

/// A conversation with its messages, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: ConversationView,
    pub messages: Vec<MessageView>,
}

async fn kb_ids(state: &State, caller: &Caller, kbs: &[String]) -> Result<Vec<String>> {
    Ok(knowledge_bases::find_all(state, caller, kbs)
        .await?
        .into_iter()
        .map(|kb| kb.id)
        .collect())
}

pub async fn create(
    state: &State,
    caller: &Caller,
    req: NewConversation,
) -> Result<ConversationView> {
    let ids = kb_ids(state, caller, &req.knowledge_bases).await?;
    let title: String = req
        .title
        .unwrap_or_default()
        .trim()
        .chars()
        .take(200)
        .collect();
    let id = uuid::Uuid::now_v7().to_string();
    let c = state
        .store
        .create_conversation(&id, &title, &ids, caller.owner.as_deref())
        .await?;
    Ok(c.into())
}

/// The caller's conversations (all of them for the admin), newest first.
pub async fn list(state: &State, caller: &Caller) -> Result<Vec<ConversationView>> {
    Ok(state
        .store
        .list_conversations(200, caller.owner.as_deref())
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// A conversation the caller may see; another reader's is not found.
async fn find(state: &State, caller: &Caller, id: &str) -> Result<Conversation> {
    state
        .store
        .get_conversation(id)
        .await?
        .filter(|c| caller.sees(c.owner.as_deref()))
        .ok_or_else(|| Error::not_found("conversation", id))
}

pub async fn get(state: &State, caller: &Caller, id: &str) -> Result<ConversationDetail> {
    let c = find(state, caller, id).await?;
    let messages = state
        .store
        .list_messages(id)
        .await?
        .into_iter()
        .map(|m| MessageView {
            citations: m
                .citations
                .as_deref()
                .and_then(|c| serde_json::from_str(c).ok())
                .unwrap_or_else(|| Value::Array(Vec::new())),
            role: m.role,
            content: m.content,
            reasoning: m.reasoning,
            created_at: m.created_at,
        })
        .collect();
    Ok(ConversationDetail {
        conversation: c.into(),
        messages,
    })
}

pub async fn delete(state: &State, caller: &Caller, id: &str) -> Result<()> {
    find(state, caller, id).await?;
    if state.store.delete_conversation(id).await? {
        Ok(())
    } else {
        Err(Error::not_found("conversation", id))
    }
}

/// Collects the parts of an answer as they stream by, to store the assistant message.
#[derive(Debug, Default)]
pub struct Collected {
    pub text: String,
    pub reasoning: String,
    pub citations: Vec<Citation>,
    pub done: bool,
}

impl Collected {
    pub fn add(&mut self, ev: &AnswerEvent) {
        match ev {
            AnswerEvent::Reasoning(r) => self.reasoning.push_str(r),
            AnswerEvent::Delta(d) => self.text.push_str(d),
            AnswerEvent::Citations(c) => self.citations = c.clone(),
            AnswerEvent::Done(_) => self.done = true,
            AnswerEvent::Error(_) => {}
        }
    }
}

/// Stores a completed exchange: the question, then the answer.
async fn save_exchange(state: &State, conversation: &str, question: &str, c: &Collected) {
    let citations = serde_json::to_string(&c.citations).unwrap_or_else(|_| "[]".into());
    let reasoning = (!c.reasoning.is_empty()).then_some(c.reasoning.as_str());
    let store = &state.store;
    let stored = async {
        store
            .add_message(conversation, "user", question, None, None)
            .await?;
        store
            .add_message(
                conversation,
                "assistant",
                &c.text,
                reasoning,
                Some(&citations),
            )
            .await
    };
    if let Err(e) = stored.await {
        tracing::error!(conversation, error = %e, "cannot store the exchange");
    }
}

/// Answers a new question in a conversation, with the earlier turns as history, and stores
/// the exchange once the answer is complete (also when a streaming client went away).
pub async fn add_message(
    state: &AppState,
    caller: &Caller,
    id: &str,
    req: NewMessage,
) -> Result<Reply> {
    let conv = find(state, caller, id).await?;
    let question = req.question.trim().to_string();
    if question.is_empty() {
        return Err(Error::bad_request("question must not be empty"));
    }
    let history: Vec<Message> = state
        .store
        .list_messages(id)
        .await?
        .into_iter()
        .filter(|m| !m.content.is_empty())
        .map(|m| Message::new(&m.role, m.content))
        .collect();
    let ask = AskRequest {
        knowledge_bases: conv.kb_ids(),
        question: question.clone(),
        history,
        stream: req.stream,
        top_k: req.top_k,
        filters: None,
    };
    kb_ids(state, caller, &ask.knowledge_bases).await?;
    if !req.stream {
        let a = answer_whole(state.clone(), caller.clone(), ask).await?;
        let collected = Collected {
            text: a.answer.clone(),
            reasoning: a.reasoning.clone().unwrap_or_default(),
            citations: a.citations.clone(),
            done: true,
        };
        save_exchange(state, id, &question, &collected).await;
        return Ok(Reply::Whole(a));
    }
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(answer(state.clone(), caller.clone(), ask, tx));
    // Store the answer from the events as they pass, even if the client goes away.
    let (copy_tx, copy_rx) = mpsc::channel::<AnswerEvent>(64);
    let st = state.clone();
    let conv_id = id.to_string();
    tokio::spawn(async move {
        let mut collected = Collected::default();
        while let Some(ev) = rx.recv().await {
            collected.add(&ev);
            let _ = copy_tx.send(ev).await;
        }
        if collected.done {
            save_exchange(&st, &conv_id, &question, &collected).await;
        }
    });
    Ok(Reply::Stream(copy_rx))
}
