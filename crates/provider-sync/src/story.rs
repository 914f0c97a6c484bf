//! How a local comment is written as an Asana story, and read back: the attribution codec
//! the `asana` provider uses too ([`provider_asana::attribution`]), so that both providers
//! read a story the same way.
//!
//! A pushed comment's story text is what the user wrote, preceded by a readable attribution
//! line `[author: NAME]` when the comment has an author. Our own stories are recognised by
//! the story gid ↔ comment guid map in the store, and a post whose answer was lost is found
//! again by its exact text among the token owner's stories (see `push.rs`). Only the token
//! owner's stories are decoded ([`StoryOrigin::TokenOwner`]); a story anybody else wrote is
//! taken verbatim, authored by its creator, and a body that looks like an attribution is
//! escaped by [`encode`] and unescaped by [`decode`].

pub use provider_asana::attribution::{decode, encode, DecodedStory, StoryOrigin};
