//! Cloud accounts: the secret goes from the form to the keychain once, after a real API check.

use berth_core::credentials::{self, Credentials, Provider, Secret};
use serde::{Deserialize, Serialize};
use tauri::State;

use super::*;
use crate::AppState;

/// A cloud account as the window lists it: never the secret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AccountView {
    pub provider: String,
    pub provider_title: String,
    pub name: String,
    pub added: String,
}

impl From<credentials::Account> for AccountView {
    fn from(a: credentials::Account) -> Self {
        let provider_title = Provider::parse(&a.provider)
            .map(|p| p.label().to_string())
            .unwrap_or_else(|_| a.provider.clone());
        AccountView {
            provider: a.provider,
            provider_title,
            name: a.name,
            added: a.added,
        }
    }
}

/// The account form: the secret travels once, from the form to the keychain.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct NewAccount {
    pub provider: String,
    pub name: String,
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<String>", optional))]
    pub token: String,
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<String>", optional))]
    pub access_key_id: String,
    #[serde(default)]
    #[cfg_attr(test, ts(as = "Option<String>", optional))]
    pub secret_access_key: String,
}

fn new_account_secret(a: &NewAccount) -> berth_core::Result<(Provider, Secret)> {
    let provider = Provider::parse(&a.provider)?;
    let secret = match provider {
        Provider::DigitalOcean => Secret::Token(a.token.trim().to_string()),
        Provider::Aws => Secret::AwsKeys {
            access_key_id: a.access_key_id.trim().to_string(),
            secret_access_key: a.secret_access_key.trim().to_string(),
            session_token: None,
        },
    };
    Ok((provider, secret))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct AddedAccount {
    pub account: AccountView,
    /// What the check call reached, e.g. "the DigitalOcean account sammy@example.com (...)".
    pub reaches: String,
}

#[tauri::command]
pub fn list_accounts(state: State<'_, AppState>) -> Res<Vec<AccountView>> {
    let list = Credentials::os(state.berth.store.root()).list()?;
    Ok(list.into_iter().map(AccountView::from).collect())
}

/// Checks the credential with a real API call, and only then stores it.
#[tauri::command]
pub async fn add_account(state: State<'_, AppState>, account: NewAccount) -> Res<AddedAccount> {
    let (provider, secret) = new_account_secret(&account)?;
    let creds = Credentials::os(state.berth.store.root());
    let (added, reaches) =
        berth_core::cloud::add_account(&creds, provider, account.name.trim(), &secret, true)
            .await?;
    Ok(AddedAccount {
        account: added.into(),
        reaches: reaches.unwrap_or_default(),
    })
}

#[tauri::command]
pub async fn test_account(
    state: State<'_, AppState>,
    provider: String,
    name: String,
) -> Res<String> {
    let provider = Provider::parse(&provider)?;
    let secret = Credentials::os(state.berth.store.root()).secret(provider, &name)?;
    Ok(berth_core::cloud::verify(provider, &secret).await?)
}

#[tauri::command]
pub fn remove_account(state: State<'_, AppState>, provider: String, name: String) -> Res<()> {
    let provider = Provider::parse(&provider)?;
    Ok(Credentials::os(state.berth.store.root()).remove(provider, &name)?)
}
