//! whisper
