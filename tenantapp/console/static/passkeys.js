// Passkeys in the console. A script file of this site's own: the page's CSP allows no inline
// one. The server's options go through the browser's own JSON parsers, and the browser's
// answers, as JSON, are posted with the page's form.
async function usePasskey(button) {
  // a login's second step: the options are on the button
  const options = PublicKeyCredential.parseRequestOptionsFromJSON(
    JSON.parse(button.dataset.options));
  const credential = await navigator.credentials.get({ publicKey: options });
  const form = button.closest("form");
  form.querySelector("input[name=passkey]").value = JSON.stringify(credential.toJSON());
  form.querySelector("input[name=code]").required = false;
  form.submit();
}

async function addPasskey(button) {
  // the Security page: a registration first (a POST with the form's CSRF token)
  const form = button.closest("form");
  const csrf = form.querySelector("input[name=csrf_token]").value;
  const answer = await fetch(button.dataset.begin, {
    method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
  if (!answer.ok) throw new Error("the server refused: " + answer.status);
  const begun = await answer.json();
  const options = PublicKeyCredential.parseCreationOptionsFromJSON(begun.options);
  const credential = await navigator.credentials.create({ publicKey: options });
  form.querySelector("input[name=registration]").value = begun.registration;
  form.querySelector("input[name=credential]").value = JSON.stringify(credential.toJSON());
  form.submit();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const [id, action] of [["use-passkey", usePasskey], ["add-passkey", addPasskey]]) {
    const button = document.getElementById(id);
    if (!button) continue;
    button.addEventListener("click", async () => {
      try {
        await action(button);
      } catch (error) {
        document.getElementById("passkey-status").textContent =
          "The passkey did not answer: " + error.message;
      }
    });
  }
});
