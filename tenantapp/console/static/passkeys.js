// A passkey at a login's second step: the options the server put on the button go to
// navigator.credentials.get (through the browser's own JSON parser), and the assertion, as JSON,
// is posted with the form. A script file of this site's own: the page's CSP allows no inline one.
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("use-passkey");
  if (!button) return;
  button.addEventListener("click", async () => {
    const form = button.closest("form");
    const status = document.getElementById("passkey-status");
    try {
      const options = PublicKeyCredential.parseRequestOptionsFromJSON(
        JSON.parse(button.dataset.options));
      const credential = await navigator.credentials.get({ publicKey: options });
      form.querySelector("input[name=passkey]").value = JSON.stringify(credential.toJSON());
      form.querySelector("input[name=code]").required = false;
      form.submit();
    } catch (error) {
      status.textContent = "The passkey did not answer: " + error.message;
    }
  });
});
