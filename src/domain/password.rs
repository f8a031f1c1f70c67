use std::fmt;

use super::Invalid;

/// A password as typed, checked per NIST SP 800-63B: 8 to 128 characters
/// after trimming surrounding whitespace, no composition rules. Never
/// printed, never stored: only its argon2id hash is.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// The fewest characters accepted, after trimming.
    pub const MIN: usize = 8;
    /// The most characters accepted, after trimming; NIST asks for at least 64.
    pub const MAX: usize = 128;

    /// Trims surrounding whitespace, then checks the length in characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&len) {
            return Err(Invalid::new(format!(
                "Password must be between {} and {} characters",
                Self::MIN,
                Self::MAX
            )));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The password itself, for hashing only; named so that uses stand out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_characters_after_trim() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("  1234567  ").is_err());
        assert_eq!(Password::parse(" 12345678 ").unwrap().expose(), "12345678");
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn no_composition_rules() {
        assert!(Password::parse("aaaaaaaa").is_ok());
        assert!(Password::parse("correct horse battery staple").is_ok());
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter"));
    }
}
