//! Charging cards. [`PaymentGateway`] is the seam; [`StripeTestGateway`]
//! is the built-in default, answering Stripe's documented test tokens so
//! the whole flow runs without an account or a network.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Mutex};

use crate::domain::Price;

/// One card charge, for one order.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    /// In cents: the price the order was placed at, less a coupon's
    /// discount (never zero: a free order asks no provider).
    pub amount: Price,
    /// ISO 4217, lower case, as Stripe takes it (`"usd"`).
    pub currency: &'static str,
    /// The card token the buyer's client got from the provider; never a card number.
    pub token: String,
    /// A key that has produced a successful charge returns that same charge
    /// ever after, so a retry never charges twice. A declined attempt leaves
    /// no charge behind, so the buyer may try again with another card.
    pub idempotency_key: String,
}

/// A successful charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id for the charge.
    pub provider_id: String,
}

/// Why a charge or refund did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeError {
    /// The card or token was refused; the message is for the buyer.
    #[error("{0}")]
    Declined(String),
    /// The provider could not be reached; safe to retry with the same key.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The key was first used for another amount: that earlier charge may
    /// have gone through, so this one is refused rather than made too.
    #[error("{0}")]
    KeyReused(String),
}

/// What a charge attempt comes to.
pub type ChargeFuture<'a> = Pin<Box<dyn Future<Output = Result<Receipt, ChargeError>> + Send + 'a>>;

/// What a refund attempt comes to.
pub type RefundFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ChargeError>> + Send + 'a>>;

/// A card payment provider.
pub trait PaymentGateway: Send + Sync + 'static {
    /// Charges a card; see [`ChargeRequest::idempotency_key`].
    fn charge(&self, request: ChargeRequest) -> ChargeFuture<'_>;
    /// Gives a charge back in full (an order that could not be completed).
    fn refund(&self, provider_id: &str) -> RefundFuture<'_>;
}

/// Behaves like Stripe in test mode for its documented test tokens,
/// including idempotency keys (kept in memory for the life of the process).
#[derive(Default)]
pub struct StripeTestGateway {
    /// By idempotency key: the amount charged and the receipt.
    charges: Mutex<HashMap<String, (Price, Receipt)>>,
    refunded: Mutex<Vec<String>>,
}

const SUCCESS_TOKENS: &[&str] = &[
    "tok_visa",
    "tok_visa_debit",
    "tok_mastercard",
    "tok_mastercard_debit",
    "tok_mastercard_prepaid",
    "tok_amex",
    "tok_discover",
    "tok_diners",
    "tok_jcb",
    "tok_unionpay",
];

fn decline_message(token: &str) -> Option<&'static str> {
    Some(match token {
        "tok_chargeDeclined" => "Your card was declined.",
        "tok_chargeDeclinedInsufficientFunds" => "Your card has insufficient funds.",
        "tok_chargeDeclinedFraudulent" => "Your card was declined.",
        "tok_chargeDeclinedIncorrectCvc" => "Your card's security code is incorrect.",
        "tok_chargeDeclinedExpiredCard" => "Your card has expired.",
        "tok_chargeDeclinedProcessingError" => {
            "An error occurred while processing your card. Try again in a little bit."
        }
        _ => return None,
    })
}

impl StripeTestGateway {
    /// The provider ids of the charges given back so far.
    pub fn refunds(&self) -> Vec<String> {
        self.refunded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many distinct charges were made.
    pub fn charges_made(&self) -> usize {
        self.charges.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn decide(token: &str) -> Result<Receipt, ChargeError> {
        if SUCCESS_TOKENS.contains(&token) {
            let id = uuid::Uuid::now_v7().simple().to_string();
            return Ok(Receipt {
                provider_id: format!("ch_{}", &id[..24]),
            });
        }
        match decline_message(token) {
            Some(msg) => Err(ChargeError::Declined(msg.to_owned())),
            None => Err(ChargeError::Declined(format!("No such token: '{token}'"))),
        }
    }
}

impl PaymentGateway for StripeTestGateway {
    fn charge(&self, request: ChargeRequest) -> ChargeFuture<'_> {
        let mut charges = self.charges.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = match charges.get(&request.idempotency_key) {
            Some((amount, earlier)) if *amount == request.amount => Ok(earlier.clone()),
            // As Stripe does: a key is bound to the parameters it was first
            // used with.
            Some(_) => Err(ChargeError::KeyReused(
                "Keys for idempotent requests can only be used with the same parameters they \
                 were first used with"
                    .into(),
            )),
            None => Self::decide(&request.token).inspect(|receipt| {
                charges.insert(request.idempotency_key, (request.amount, receipt.clone()));
            }),
        };
        Box::pin(async move { outcome })
    }

    fn refund(&self, provider_id: &str) -> RefundFuture<'_> {
        let known = self
            .charges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|(_, r)| r.provider_id == provider_id);
        let outcome = if known {
            self.refunded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(provider_id.to_owned());
            Ok(())
        } else {
            Err(ChargeError::Declined(format!(
                "No such charge: '{provider_id}'"
            )))
        };
        Box::pin(async move { outcome })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: &str, key: &str) -> ChargeRequest {
        ChargeRequest {
            amount: Price::from_cents(1000).unwrap(),
            currency: "usd",
            token: token.into(),
            idempotency_key: key.into(),
        }
    }

    #[tokio::test]
    async fn test_tokens_succeed_or_decline() {
        let g = StripeTestGateway::default();
        assert!(g.charge(request("tok_visa", "a")).await.is_ok());
        assert!(g.charge(request("tok_mastercard", "b")).await.is_ok());
        assert_eq!(
            g.charge(request("tok_chargeDeclined", "c")).await,
            Err(ChargeError::Declined("Your card was declined.".into()))
        );
        assert!(matches!(
            g.charge(request("tok_bogus", "d")).await,
            Err(ChargeError::Declined(m)) if m.contains("No such token")
        ));
    }

    #[tokio::test]
    async fn a_key_is_bound_to_the_amount_it_was_first_used_for() {
        let g = StripeTestGateway::default();
        g.charge(request("tok_visa", "k")).await.unwrap();
        let mut cheaper = request("tok_visa", "k");
        cheaper.amount = Price::from_cents(500).unwrap();
        assert!(matches!(
            g.charge(cheaper).await,
            Err(ChargeError::KeyReused(_))
        ));
        assert_eq!(g.charges_made(), 1);
    }

    #[tokio::test]
    async fn same_key_same_charge() {
        let g = StripeTestGateway::default();
        let first = g.charge(request("tok_visa", "k")).await.unwrap();
        let again = g.charge(request("tok_visa", "k")).await.unwrap();
        assert_eq!(first, again);
        let other = g.charge(request("tok_visa", "k2")).await.unwrap();
        assert_ne!(first, other);
        // A decline is not remembered: the next card may succeed.
        assert!(g.charge(request("tok_chargeDeclined", "k3")).await.is_err());
        assert!(g.charge(request("tok_visa", "k3")).await.is_ok());
        assert_eq!(
            g.charge(request("tok_chargeDeclined", "k3")).await,
            g.charge(request("tok_visa", "k3")).await
        );
    }
}
