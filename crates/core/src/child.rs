//! Programs Berth starts (terminals, qemu, VBoxManage, PowerShell…) run in the user's own
//! environment. The desktop app on Linux tunes WebKit through environment variables its own
//! processes inherit: it preloads WebKit's libraries into WebKit's helper processes through
//! `LD_PRELOAD` (see src-tauri's webkit_env.rs), keeping the user's own value in
//! [`USER_LD_PRELOAD`], and lists the variables it added in [`APP_SET`]. [`command`] undoes both.
//! Async code starts programs through [`tokio_command`] and [`async_background`], never
//! through a blocking `std::process` wait on the async runtime.

use std::ffi::OsStr;
use std::process::Command;

/// The `LD_PRELOAD` the user had before the app added WebKit's libraries ("" = none).
pub const USER_LD_PRELOAD: &str = "BERTH_USER_LD_PRELOAD";
/// The variables the app set that the user had not, comma-separated.
pub const APP_SET: &str = "BERTH_APP_SET_ENV";

/// A `Command` for `program` with the user's environment (see the module comment).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    restore_user_env(&mut c);
    c
}

/// [`command`] for a tool that runs unseen (qemu-img, VBoxManage, PowerShell cmdlets): on
/// Windows without the console window a GUI app's child would otherwise flash up.
pub fn background(program: impl AsRef<OsStr>) -> Command {
    #[cfg_attr(not(windows), allow(unused_mut))]
    let mut c = command(program);
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        c.creation_flags(CREATE_NO_WINDOW);
    }
    c
}

/// [`command`] for async code: tokio's `Command` (waiting for it does not block a runtime
/// worker), which kills the program when the future running it is dropped (a timeout, a
/// cancelled operation).
pub fn tokio_command(program: impl AsRef<OsStr>) -> tokio::process::Command {
    let mut c = tokio::process::Command::from(command(program));
    c.kill_on_drop(true);
    c
}

/// [`background`] for async code (see [`tokio_command`]).
pub fn async_background(program: impl AsRef<OsStr>) -> tokio::process::Command {
    let mut c = tokio::process::Command::from(background(program));
    c.kill_on_drop(true);
    c
}

/// Gives `c` the environment the user had, if the app changed it.
pub fn restore_user_env(c: &mut Command) {
    restore_with(
        c,
        std::env::var_os(USER_LD_PRELOAD).as_deref(),
        std::env::var_os(APP_SET).as_deref(),
    );
}

fn restore_with(c: &mut Command, user_preload: Option<&OsStr>, app_set: Option<&OsStr>) {
    if let Some(user) = user_preload {
        c.env_remove(USER_LD_PRELOAD);
        if user.is_empty() {
            c.env_remove("LD_PRELOAD");
        } else {
            c.env("LD_PRELOAD", user);
        }
    }
    if let Some(set) = app_set {
        c.env_remove(APP_SET);
        for var in set.to_string_lossy().split(',').filter(|v| !v.is_empty()) {
            c.env_remove(var);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn env_of(c: &Command, key: &str) -> Option<Option<String>> {
        c.get_envs()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    #[test]
    fn the_users_environment_comes_back() {
        // No env mutation here (tests run in parallel): the parent environment is simulated
        // through restore_with's arguments.
        let mut c = Command::new("true");
        restore_with(&mut c, Some("".as_ref()), None);
        assert_eq!(env_of(&c, "LD_PRELOAD"), Some(None), "removed");
        assert_eq!(env_of(&c, USER_LD_PRELOAD), Some(None));
        let mut c = Command::new("true");
        restore_with(&mut c, Some("/opt/mine.so".as_ref()), None);
        assert_eq!(env_of(&c, "LD_PRELOAD"), Some(Some("/opt/mine.so".into())));
        let mut c = Command::new("true");
        restore_with(
            &mut c,
            None,
            Some("JSC_useJIT,WEBKIT_WEB_RENDER_DEVICE_FILE".as_ref()),
        );
        assert_eq!(env_of(&c, "JSC_useJIT"), Some(None));
        assert_eq!(env_of(&c, "WEBKIT_WEB_RENDER_DEVICE_FILE"), Some(None));
        assert_eq!(env_of(&c, APP_SET), Some(None));
        assert_eq!(env_of(&c, "LD_PRELOAD"), None, "untouched");
        let mut c = Command::new("true");
        restore_with(&mut c, None, None);
        assert_eq!(c.get_envs().count(), 0, "untouched outside the app");
    }
}
