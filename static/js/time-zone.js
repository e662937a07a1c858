// The person's time zone, as their browser knows it, in a cookie: the site then shows
// times, and reads the times typed in its forms, in that zone (UTC until it is known).
(function () {
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) {
    return;
  }
  var cookie = "tz=" + zone; // an IANA name: letters, digits and / _ + - only
  if (document.cookie.split("; ").indexOf(cookie) === -1) {
    document.cookie = cookie + "; path=/; max-age=31536000; samesite=lax" +
      (location.protocol === "https:" ? "; secure" : "");
  }
})();
