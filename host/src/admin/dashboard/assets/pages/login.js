// The login form: an admin's name and password (`mqhost admins add`),
// exchanged for a session cookie.

import { LOGIN_TIMEOUT_MS, api } from "../api.js";
import { field, h } from "../dom.js";

export function mount(container, { onLogin }) {
  const username = h("input", { name: "username", id: "login-username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { name: "password", id: "login-password", type: "password", autocomplete: "current-password", required: true });
  const message = h("p", { class: "error", id: "login-error", role: "alert" });
  const submit = h("button", { type: "submit", id: "login-submit" }, "Log in");
  const form = h("form", { class: "card login", id: "login-form" },
    h("h1", {}, "mqhost"),
    field("User", username),
    field("Password", password),
    submit,
    message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    submit.disabled = true;
    submit.textContent = "Logging in…";
    try {
      const credentials = { username: username.value, password: password.value };
      const answer = await api("POST", "/api/v1/login", credentials, { timeout: LOGIN_TIMEOUT_MS });
      onLogin(answer && answer.username ? answer.username : username.value);
    } catch (e) {
      message.textContent = e.status === 401 ? "Wrong user name or password." : e.message;
      password.select();
    } finally {
      submit.disabled = false;
      submit.textContent = "Log in";
    }
  });
  container.append(h("div", { class: "login-wrap" }, form));
  username.focus();
  return null;
}
