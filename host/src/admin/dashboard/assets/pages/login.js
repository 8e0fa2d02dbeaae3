// The login form: an admin's name and password (`mqhost admins add`),
// exchanged for a session cookie.

import { api } from "../api.js";
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
    try {
      const answer = await api("POST", "/api/v1/login", { username: username.value, password: password.value });
      onLogin(answer && answer.username ? answer.username : username.value);
    } catch (e) {
      message.textContent = e.status === 401 ? "Wrong user name or password." : e.message;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  container.append(h("div", { class: "login-wrap" }, form));
  username.focus();
  return null;
}
